// The Node.js side of the init comparison: the minimal Lambda function a Node user would
// write for this job — the DynamoDB client constructed at init — with a plain Runtime API
// loop (what a custom runtime does). Init ends at its first request for an event.
const path = require("path");
const http = require("http");
const { DynamoDBClient } = require(path.join(process.env.NODE_MODULES_DIR, "@aws-sdk/client-dynamodb"));

const client = new DynamoDBClient({});
const api = process.env.AWS_LAMBDA_RUNTIME_API;

function next() {
  http.get(`http://${api}/2018-06-01/runtime/invocation/next`, (res) => {
    const id = res.headers["lambda-runtime-aws-request-id"];
    res.resume();
    res.on("end", () => {
      const req = http.request(`http://${api}/2018-06-01/runtime/invocation/${id}/response`, { method: "POST" }, (r) => {
        r.resume();
        r.on("end", next);
      });
      req.end(JSON.stringify({ statusCode: 200, body: String(client.config.serviceId) }));
    });
  });
}
next();
