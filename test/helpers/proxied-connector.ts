/** A connector that reaches a fresh emulator through the fault proxy: the setup of the backend-fault tests. */
import { startConnector, type Connector, type ConnectorOptions } from './connector.ts';
import { startEmulator, type Emulator } from './emulator.ts';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';

export interface ProxiedConnector {
  readonly emulator: Emulator;
  readonly proxy: FaultProxy;
  readonly connector: Connector;
  /** Stops the connector, the proxy and the emulator. */
  stop(): Promise<void>;
}

/** Starts an emulator with `bucket`, a fault proxy in front of it, and a connector behind the proxy. */
export async function startProxiedConnector(bucket: string, options: Omit<ConnectorOptions, 'emulatorOrigin' | 'bucket'>): Promise<ProxiedConnector> {
  const emulator = await startEmulator();
  await emulator.createBucket(bucket);
  const proxy = await startFaultProxy(emulator.origin);
  const connector = await startConnector({ ...options, emulatorOrigin: proxy.origin, bucket });
  return {
    emulator,
    proxy,
    connector,
    async stop() {
      await connector.stop();
      await proxy.close();
      await emulator.stop();
    },
  };
}
