/** The in-memory store held to the ObjectStore contract (the GCS store meets the same one). */
import { MemoryObjectStore } from '../../src/store/memory/memory-store.ts';
import { objectStoreContract } from '../contract/object-store-contract.ts';

objectStoreContract('in-memory store', async () => ({
  store: new MemoryObjectStore('contract'),
  urlPrefix: 'gs://contract/',
  close: async () => {},
}));
