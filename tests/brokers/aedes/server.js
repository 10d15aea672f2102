// aedes for mqtt-scan's interop tests: `node server.js PORT` listens on 127.0.0.1:PORT with
// aedes's defaults (in-memory persistence, so retained messages live as long as the process)
// and prints `ready PORT` once it accepts connections.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.js PORT')
  process.exit(2)
}
const broker = await Aedes.createBroker()
const server = net.createServer(broker.handle)
server.on('error', (e) => {
  console.error(`aedes: ${e.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => console.log(`ready ${port}`))
