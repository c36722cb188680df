// Writes flow-log blobs into Blob Storage (Azurite in the tests) the way Azure
// writes PT1H.json, with Microsoft's own JavaScript SDK - a client independent
// of flowwatch's: a first block `{"records":[`, one block per record (led by
// `,` after the first), a last block `]}`, and the block list committed again
// after each record is added, as Azure does every minute.
//
//   node write_blobs.mjs CONNECTION_STRING CONTAINER SRC_DIR FROM TO [STEP [EVENTS_FILE]]
//
// For every PT1H.json under SRC_DIR (its relative path is the blob's name),
// the records [FROM, TO) of its "records" array are added to the blob (FROM 0
// creates it), the block list committed every STEP records (default 1: every
// record). The blobs are written side by side, as a flow log's NICs are.
// STEP 0 uploads each file whole in one request, 16 at a time (for benchmarks;
// with EVENTS_FILE, one event a blob).
// Prints the number of records written. With EVENTS_FILE, each commit's
// Microsoft.Storage.BlobCreated event is appended to it as Event Grid would
// deliver it to an Event Hub, one line `SUBJECT<TAB>EVENT` (the subject as
// the partition key): the Event Grid schema (an array of one event) for
// every other blob, the CloudEvents schema for the rest.
import { BlobServiceClient } from "@azure/storage-blob";
import { appendFileSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const [connection, containerName, srcDir, fromArg, toArg] = process.argv.slice(2);
const from = Number(fromArg), to = Number(toArg), step = Number(process.argv[7] ?? 1);
const eventsFile = process.argv[8];
let eventCount = 0;
const service = BlobServiceClient.fromConnectionString(connection);
const container = service.getContainerClient(containerName);
await container.createIfNotExists();

function* walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (name === "PT1H.json") yield path;
  }
}

const id = (n) => Buffer.from(String(n).padStart(8, "0")).toString("base64");
const HEAD = id(0), TRAILER = id(99999999);
let written = 0;
function event(blob, name, index, response, length) {
  if (!eventsFile) return;
  const subject = `/blobServices/default/containers/${containerName}/blobs/${name}`;
  const source = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" +
                 `Microsoft.Storage/storageAccounts/${service.accountName}`;
  const data = { api: "PutBlockList", clientRequestId: response.clientRequestId ?? "", requestId: response.requestId,
                 eTag: response.etag, contentType: "application/octet-stream", contentLength: length,
                 blobType: "BlockBlob", url: blob.url, sequencer: String(++eventCount).padStart(32, "0"),
                 storageDiagnostics: { batchId: "00000000-0000-0000-0000-000000000000" } };
  const id = `${eventCount}-${index}`;
  const time = new Date().toISOString();
  const body = index % 2 === 0
    ? JSON.stringify([{ topic: source, subject, eventType: "Microsoft.Storage.BlobCreated", id, data,
                        dataVersion: "", metadataVersion: "1", eventTime: time }])
    : JSON.stringify({ source, subject, type: "Microsoft.Storage.BlobCreated", time, id, data,
                       specversion: "1.0" });
  appendFileSync(eventsFile, `${subject}\t${body}\n`);
}
async function write(path, index) {
  const records = JSON.parse(readFileSync(path, "utf8")).records;
  const blob = container.getBlockBlobClient(relative(srcDir, path));
  const sizes = new Map();
  const stage = async (blockId, text) => {
    sizes.set(blockId, Buffer.byteLength(text));
    return blob.stageBlock(blockId, Buffer.from(text), Buffer.byteLength(text));
  };
  // Block sizes not staged by this run (earlier records) are read from the committed list.
  if (from > 0 && eventsFile) {
    const list = await blob.getBlockList("committed");
    for (const b of list.committedBlocks) sizes.set(b.name, b.size);
  }
  const commit = async (ids) => {
    const response = await blob.commitBlockList(ids);
    event(blob, relative(srcDir, path), index, response, ids.reduce((n, i) => n + (sizes.get(i) ?? 0), 0));
  };
  if (from === 0) {
    await stage(HEAD, '{"records":[');
    await stage(TRAILER, "]}");
  }
  const ids = [HEAD];
  for (let i = 0; i < from; ++i) ids.push(id(i + 1));
  const end = Math.min(to, records.length);
  for (let i = from; i < end; ++i) {
    await stage(id(i + 1), (i ? "," : "") + JSON.stringify(records[i]));
    ids.push(id(i + 1));
    ++written;
    if ((i + 1 - from) % step === 0 || i + 1 === end) await commit([...ids, TRAILER]);
  }
  if (from === 0 && end <= 0) await commit([HEAD, TRAILER]);
}
if (step === 0) {
  const paths = [...walk(srcDir)];
  const next = async () => {
    for (let path = paths.pop(); path; path = paths.pop()) {
      const blob = container.getBlockBlobClient(relative(srcDir, path));
      const response = await blob.uploadFile(path);
      event(blob, relative(srcDir, path), written, response, statSync(path).size);
      ++written;
    }
  };
  await Promise.all(Array.from({ length: 16 }, next));
} else {
  await Promise.all([...walk(srcDir)].map((path, index) => write(path, index)));
}
console.log(written);
