/** What /proc says of a process: descriptors and memory. */
import { readdirSync, readFileSync } from 'node:fs';

/** Open file descriptors of a process (sockets included). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A memory field of /proc/<pid>/status (VmRSS now, VmHWM the peak so far, RssAnon / RssFile its parts), in MiB to one decimal. */
export function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return Math.round((kib / 1024) * 10) / 10;
}

/** CPU time of all threads of a process so far, in ms (from schedstat: nanosecond resolution). */
export function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read; its time is gone with it.
    }
  }
  return ns / 1e6;
}
