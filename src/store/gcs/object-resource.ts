/** GCS's object resource as the connector asks for it, and what the connector keeps of it. */
import { StoreError } from '../store-error.ts';
import type { ObjectAttributes } from '../object-store.ts';

/** The fields every object answer is trimmed to (`fields=`). */
export const OBJECT_FIELDS = 'name,size,generation,metageneration,contentType,updated,storageClass,md5Hash,metadata';

export interface GcsObjectResource {
  readonly name?: string;
  readonly size?: string;
  readonly generation?: string;
  readonly metageneration?: string;
  readonly contentType?: string;
  readonly updated?: string;
  readonly storageClass?: string;
  readonly md5Hash?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export function attributesOf(resource: GcsObjectResource): ObjectAttributes {
  if (resource.name === undefined || resource.generation === undefined) {
    throw new StoreError('broken', 'GCS answered an object without its name or generation');
  }
  return {
    name: resource.name,
    size: Number(resource.size ?? 0),
    generation: resource.generation,
    metageneration: resource.metageneration ?? '1',
    contentType: resource.contentType ?? 'application/octet-stream',
    updated: resource.updated,
    storageClass: resource.storageClass,
  };
}
