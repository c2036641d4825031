/** One connector of each variant on the same bucket, started together and stopped together. */
import { startConnector, type Connector, type ConnectorOptions } from './connector.ts';

export type Variant = ConnectorOptions['variant'];

export interface VariantConnectors {
  /** The running connector of `variant`. */
  of(variant: Variant): Connector;
  stop(): Promise<void>;
}

export async function startVariantConnectors(options: Omit<ConnectorOptions, 'variant'>): Promise<VariantConnectors> {
  const lww = await startConnector({ ...options, variant: 'lww' });
  const cas = await startConnector({ ...options, variant: 'cas' }).catch(async (error: unknown) => {
    await lww.stop();
    throw error;
  });
  return {
    of: (variant) => (variant === 'lww' ? lww : cas),
    async stop() {
      await lww.stop();
      await cas.stop();
    },
  };
}
