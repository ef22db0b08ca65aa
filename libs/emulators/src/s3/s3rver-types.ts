import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

/** The parts of s3rver 3.7.1 (untyped CommonJS) that the wrapper touches. */
export interface S3rverInstance {
  run(): Promise<AddressInfo>;
  httpServer?: Server;
  store: unknown;
  context: { store: unknown };
  /** Koa's middleware stack, composed when the server starts. */
  middleware: unknown[];
}

export type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

export interface S3rverObject {
  bucket: string;
  key: string;
  content: Readable | Buffer | null;
  metadata: Record<string, unknown>;
  range?: { start: number; end: number };
}

export type S3rverObjectClass = new (
  bucket: string,
  key: string,
  content: Readable | Buffer | null,
  metadata: Record<string, unknown>,
) => S3rverObject;

export interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}

export interface ListResult {
  objects: S3rverObject[];
  commonPrefixes: string[];
  isTruncated: boolean;
}

export interface FilesystemStoreBase {
  rootDirectory: string;
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, unknown>>;
  putMetadata(bucket: string, key: string, metadata: Record<string, unknown>, md5?: string): Promise<void>;
  getObject(
    bucket: string,
    key: string,
    options?: { start?: number; end?: number },
  ): Promise<S3rverObject | null>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  listObjects(bucket: string, options: ListOptions): Promise<ListResult>;
}

export type FilesystemStoreClass = new (rootDirectory: string) => FilesystemStoreBase;
