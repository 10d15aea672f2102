// aedes for mqtt-scan's interop tests: `node server.js PORT [--allow-sys]` listens on
// 127.0.0.1:PORT with aedes's defaults (in-memory persistence, so retained messages live as
// long as the process) and prints `ready PORT` once it accepts connections, then
// `subscribe CLIENT FILTER` for each subscription (for tests to wait on). `--allow-sys` lets
// clients publish under $SYS (aedes refuses that by default), for tests that play another
// broker's client events.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
const allowSys = process.argv[3] === '--allow-sys'
if (!Number.isInteger(port) || port <= 0 || (process.argv.length > 3 && !allowSys)) {
  console.error('usage: node server.js PORT [--allow-sys]')
  process.exit(2)
}
const broker = await Aedes.createBroker(
  allowSys ? { authorizePublish: (client, packet, cb) => cb(null) } : {}
)
broker.on('subscribe', (subs, client) => {
  for (const s of subs) console.log('subscribe', client ? client.id : '-', s.topic)
})
const server = net.createServer(broker.handle)
server.on('error', (e) => {
  console.error(`aedes: ${e.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => console.log(`ready ${port}`))
