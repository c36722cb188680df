// Deletes a container, as an operator or a retention script might, with
// Microsoft's JavaScript SDK.
//
//   node delete_container.mjs CONNECTION_STRING CONTAINER
import { BlobServiceClient } from "@azure/storage-blob";

const [connection, containerName] = process.argv.slice(2);
await BlobServiceClient.fromConnectionString(connection).getContainerClient(containerName).delete();
