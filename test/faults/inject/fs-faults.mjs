/**
 * Fault injection for a real filter-atlas process, loaded with `node --import` (plain JS: it runs
 * before tsx). It wraps Node's fs functions (promises, callbacks and FileHandle methods) and
 * re-exports them to ES modules with syncBuiltinESMExports, so the product's own code meets:
 *
 *   FAULT_DISK_DIR + FAULT_DISK_BYTES  a disk of that many free bytes under DIR: the write that
 *                                      crosses the limit writes what fits, then every write there
 *                                      fails with ENOSPC, as on a full disk;
 *   FAULT_READONLY_DIR                 a read-only file system under DIR: creating, writing,
 *                                      renaming or removing anything there fails with EROFS;
 *   FAULT_REPORT                       a JSON file written at exit: faults injected, bytes written
 *                                      under FAULT_DISK_DIR, and the process's peak memory (maxRSS).
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve, sep } from 'node:path';

const diskDir = process.env.FAULT_DISK_DIR ? resolve(process.env.FAULT_DISK_DIR) : undefined;
const diskBytes = Number(process.env.FAULT_DISK_BYTES ?? Infinity);
const readOnlyDir = process.env.FAULT_READONLY_DIR ? resolve(process.env.FAULT_READONLY_DIR) : undefined;
const report = process.env.FAULT_REPORT;

let written = 0;
let full = false;
let injected = 0;

const under = (dir, path) => dir !== undefined && typeof path === 'string' && (resolve(path) === dir || resolve(path).startsWith(dir + sep));

function errnoError(code, errno, syscall, path) {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'read-only file system';
  const error = new Error(`${code}: ${text}, ${syscall}${path ? ` '${path}'` : ''}`);
  Object.assign(error, { code, errno, syscall }, path ? { path } : {});
  injected += 1;
  return error;
}
const readOnly = (syscall, path) => errnoError('EROFS', -30, syscall, path);
const noSpace = (syscall) => errnoError('ENOSPC', -28, syscall);

/** Open flags that create or write. */
const writes = (flags) => typeof flags === 'number' ? (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT)) !== 0 : /[wa+]/.test(flags ?? 'r');

/** Bytes a write may still put on the fake disk: all of them, a prefix, or none (then ENOSPC). */
function allowance(path, length) {
  if (!under(diskDir, path)) return length;
  if (full) return 0;
  const left = diskBytes - written;
  if (length <= left) {
    written += length;
    return length;
  }
  full = true;
  written += Math.max(0, left);
  return Math.max(0, left);
}

const byteLength = (data) => (typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
const asBuffer = (data) => (typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength));

// File handles and descriptors opened under a faulty folder, to know where their writes go.
const handlePaths = new WeakMap();
const fdPaths = new Map();

const p = fs.promises;
const real = { open: p.open, mkdir: p.mkdir, rename: p.rename, rm: p.rm, unlink: p.unlink, rmdir: p.rmdir, writeFile: p.writeFile, appendFile: p.appendFile, copyFile: p.copyFile };

p.open = async function open(path, flags, mode) {
  if (writes(flags) && under(readOnlyDir, path)) throw readOnly('open', path);
  const handle = await real.open(path, flags, mode);
  if (under(diskDir, path)) handlePaths.set(handle, path);
  return handle;
};
p.mkdir = async function mkdir(path, options) {
  if (under(readOnlyDir, path)) {
    const exists = await p.stat(path).then(() => true, () => false);
    if (!exists) throw readOnly('mkdir', path);
  }
  return real.mkdir(path, options);
};
p.rename = async function rename(from, to) {
  if (under(readOnlyDir, from) || under(readOnlyDir, to)) throw readOnly('rename', from);
  return real.rename(from, to);
};
for (const name of ['rm', 'unlink', 'rmdir']) {
  p[name] = async function remove(path, options) {
    if (under(readOnlyDir, path)) throw readOnly(name, path);
    return real[name](path, options);
  };
}
p.copyFile = async function copyFile(from, to, mode) {
  if (under(readOnlyDir, to)) throw readOnly('copyfile', to);
  return real.copyFile(from, to, mode);
};
for (const name of ['writeFile', 'appendFile']) {
  p[name] = async function write(path, data, options) {
    if (typeof path === 'string' && under(readOnlyDir, path)) throw readOnly('open', path);
    if (typeof path === 'string' && under(diskDir, path)) {
      const length = byteLength(data);
      const fits = allowance(path, length);
      if (fits < length) {
        await real[name](path, asBuffer(data).subarray(0, fits), options);
        throw noSpace('write');
      }
    }
    return real[name](path, data, options);
  };
}

// FileHandle methods: the class is not exported, so take it from a handle.
const probe = await real.open(process.execPath, 'r');
const FileHandle = Object.getPrototypeOf(probe);
await probe.close();
const handleWriteFile = FileHandle.writeFile;
const handleWrite = FileHandle.write;
FileHandle.writeFile = async function writeFile(data, options) {
  const path = handlePaths.get(this);
  if (path === undefined) return handleWriteFile.call(this, data, options);
  const length = byteLength(data);
  const fits = allowance(path, length);
  if (fits < length) {
    await handleWriteFile.call(this, asBuffer(data).subarray(0, fits), options);
    throw noSpace('write');
  }
  return handleWriteFile.call(this, data, options);
};
FileHandle.write = async function write(data, ...rest) {
  const path = handlePaths.get(this);
  if (path === undefined || typeof data === 'string') return handleWrite.call(this, data, ...rest);
  const length = typeof rest[1] === 'number' ? rest[1] : data.byteLength;
  if (allowance(path, length) < length) throw noSpace('write');
  return handleWrite.call(this, data, ...rest);
};

// Callback API: what fs.createWriteStream uses (the asset downloads).
const cb = { open: fs.open, write: fs.write, writev: fs.writev, close: fs.close, mkdir: fs.mkdir, rename: fs.rename, unlink: fs.unlink };
fs.open = function open(path, flags, mode, callback) {
  const done = [mode, callback].find((f) => typeof f === 'function') ?? (typeof flags === 'function' ? flags : undefined);
  if (writes(typeof flags === 'function' ? 'r' : flags) && under(readOnlyDir, path)) return process.nextTick(done, readOnly('open', path));
  return cb.open(path, typeof flags === 'function' ? 'r' : flags, typeof mode === 'function' ? undefined : mode, (error, fd) => {
    if (!error && under(diskDir, path)) fdPaths.set(fd, path);
    done(error, fd);
  });
};
fs.close = function close(fd, callback) {
  fdPaths.delete(fd);
  return cb.close(fd, callback);
};
fs.write = function write(fd, buffer, ...rest) {
  const path = fdPaths.get(fd);
  const callback = rest.find((f) => typeof f === 'function');
  if (path !== undefined && typeof buffer !== 'string') {
    const length = typeof rest[1] === 'number' ? rest[1] : buffer.byteLength;
    if (allowance(path, length) < length) return process.nextTick(callback, noSpace('write'));
  }
  return cb.write(fd, buffer, ...rest);
};
fs.writev = function writev(fd, buffers, ...rest) {
  const path = fdPaths.get(fd);
  const callback = rest.find((f) => typeof f === 'function');
  if (path !== undefined) {
    const length = buffers.reduce((sum, b) => sum + b.byteLength, 0);
    if (allowance(path, length) < length) return process.nextTick(callback, noSpace('write'));
  }
  return cb.writev(fd, buffers, ...rest);
};
for (const name of ['mkdir', 'rename', 'unlink']) {
  fs[name] = function mutate(path, ...rest) {
    const callback = rest.find((f) => typeof f === 'function');
    if (under(readOnlyDir, path) || (name === 'rename' && under(readOnlyDir, rest[0]))) return process.nextTick(callback, readOnly(name, path));
    return cb[name](path, ...rest);
  };
}

syncBuiltinESMExports();

if (report) {
  process.on('exit', () => {
    fs.writeFileSync(report, JSON.stringify({ injected, written, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
  });
}
