import net from 'node:net';

/** True when something accepts a connection on the TCP port or Unix socket within a second. */
export function reachable(hostOrPath: string, port?: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = port === undefined ? net.connect(hostOrPath) : net.connect(port, hostOrPath);
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
  });
}

/** True when a Docker engine answers on its socket (never on this project's own machines). */
export function dockerAvailable(): Promise<boolean> {
  return reachable('/var/run/docker.sock');
}

export interface MinioServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  stop(): Promise<void>;
}

/**
 * MinIO in a container, the faithful S3 server, with one bucket; null (and a message) where no
 * Docker engine runs, so the same conformance suite runs against it wherever it can.
 */
export async function startMinio(bucket: string): Promise<MinioServer | null> {
  if (!(await dockerAvailable())) {
    console.warn('SKIP MinIO conformance: no Docker engine (s3rver covers the suite here)');
    return null;
  }
  const { MinioContainer } = await import('@testcontainers/minio');
  const container = await new MinioContainer('minio/minio:RELEASE.2025-04-22T22-12-26Z').start();
  const endpoint = container.getConnectionUrl();
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const credentials = { accessKeyId: container.getUsername(), secretAccessKey: container.getPassword() };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return { endpoint, ...credentials, bucket, stop: async () => void (await container.stop()) };
}

export interface FakeGcsServer {
  endpoint: string;
  stop(): Promise<void>;
}

/** fake-gcs-server in a container (@testcontainers/gcloud); null where no Docker engine runs. */
export async function startFakeGcs(): Promise<FakeGcsServer | null> {
  if (!(await dockerAvailable())) {
    console.warn(
      'SKIP fake-gcs-server conformance: no Docker engine (the built-in GCS emulator covers the suite here)',
    );
    return null;
  }
  const { CloudStorageEmulatorContainer } = await import('@testcontainers/gcloud');
  const container = await new CloudStorageEmulatorContainer('fsouza/fake-gcs-server:1.52.2').start();
  return { endpoint: container.getEmulatorEndpoint(), stop: async () => void (await container.stop()) };
}
