/** The GCS store on fake-gcs-server held to the ObjectStore contract the in-memory store meets. */
import { loadConfig } from '../../src/config.ts';
import { createGcsStore } from '../../src/wiring/gcs-store.ts';
import { UNOBSERVED } from '../../src/store/gcs/gcs-observer.ts';
import { objectStoreContract } from '../contract/object-store-contract.ts';
import { probeQuirks, startEmulator } from '../helpers/emulator.ts';

objectStoreContract('GCS store on fake-gcs-server', async () => {
  const emulator = await startEmulator();
  const bucket = 'contract';
  await emulator.createBucket(bucket);
  const quirks = await probeQuirks(emulator, bucket);
  const config = { ...loadConfig({ CONNECTOR_SOCKET: '/tmp/contract.sock', STATE_BUCKET: bucket, STORAGE_EMULATOR_HOST: emulator.origin }, 'lww'), gcsTimeoutMs: 5_000 };
  const store = createGcsStore(config, UNOBSERVED);
  return {
    store,
    urlPrefix: `gs://${bucket}/`,
    conditionalReadIgnored: 'fake-gcs-server answers a read with ifGenerationNotMatch at the current generation with the bytes, where GCS answers 304',
    metagenerationKept: 'fake-gcs-server keeps metageneration 1 through a metadata update, where GCS increments it',
    ...(quirks.deleteHonoursPreconditions ? {} : { deleteConditionIgnored: 'this fake-gcs-server ignores ifGenerationMatch on DELETE (fake-gcs-server issue #1282)' }),
    close: async () => {
      await store.close();
      await emulator.stop();
    },
  };
});
