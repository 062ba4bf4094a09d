// Plays the AWS Lambda Node.js runtime for one execution environment, to run an example handler
// as Lambda would: the module is imported once (the cold start) and its exported `handler` is
// awaited once per invocation, with an event and a context object whose
// getRemainingTimeInMillis() counts down to the invocation's deadline. What the handler logs goes
// to stdout/stderr (CloudWatch's side); the results go to fd 3, one JSON line per invocation.
//   argv[2]: the handler module's path (ESM); argv[3]: the export (default "handler")
//   stdin:   one JSON line per invocation: { event, requestId, timeoutMs? }
//   fd 3:    { ready: true } once imported, then { result } or { error: { name, message } }
import fs from 'node:fs';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';

const out = fs.createWriteStream(null, { fd: 3 });
const send = (o) => out.write(`${JSON.stringify(o)}\n`);
const [file, exportName = 'handler'] = process.argv.slice(2);
const name = 'ibkr-token-refresher';

const mod = await import(pathToFileURL(file).href);
const handler = mod[exportName];
if (typeof handler !== 'function') throw new Error(`${file} exports no function ${exportName}`);
send({ ready: true });

// Invocations run one at a time in an execution environment, as in Lambda.
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const { event, requestId, timeoutMs = 30_000 } = JSON.parse(line);
  const deadline = Date.now() + timeoutMs;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `2025/01/01/[$LATEST]${requestId.replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    send({ result: await handler(event, context) });
  } catch (e) {
    send({ error: { name: e?.name, message: e?.message, code: e?.code } });
  }
}
