// The bench's uploading client, in a process of its own as a browser would be: streams a file from
// disk to POST /api/batches and prints {status, ms, body, cpuMs}: ms from the request's start to the answer's
// headers, and the CPU this process used. (An in-process fetch of a 51 MB Buffer copied the body first and shared the server's thread.)
//   node bench/upload-client.mjs URL TOKEN FILE NAME
import { createReadStream, statSync } from 'node:fs';
import { request } from 'node:http';

const [url, token, file, name] = process.argv.slice(2);
const t0 = performance.now();
const req = request(
  url,
  {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/xml',
      'content-length': statSync(file).size,
      'x-file-name': name,
    },
  },
  (res) => {
    const ms = performance.now() - t0;
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      body += d;
    });
    res.on('end', () => {
      const cpu = process.cpuUsage();
      const cpuMs = (cpu.user + cpu.system) / 1000;
      process.stdout.write(JSON.stringify({ status: res.statusCode, ms, body, cpuMs }));
    });
  },
);
req.on('error', (e) => {
  console.error(e);
  process.exit(1);
});
createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
