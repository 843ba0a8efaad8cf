/**
 * The engine's waiting queues. Aborted sequences are deleted lazily (skipped when they reach the
 * head) so an abort is O(1) even with 100k requests waiting; `size` counts live entries only.
 */
import type { Sequence } from './sequence';

export interface WaitingQueue<T> {
  readonly size: number;
  push(seq: Sequence<T>): void;
  /** Re-queue a preempted sequence ahead of new arrivals. */
  pushFront(seq: Sequence<T>): void;
  peek(): Sequence<T> | undefined;
  shift(): Sequence<T> | undefined;
  /** Mark removed (the caller has set seq.state away from 'waiting'). */
  removed(): void;
  drain(): Sequence<T>[];
}

/** FIFO, or by (priority, arrival) under priority scheduling. */
export function waitingQueue<T>(priorityScheduling: boolean): WaitingQueue<T> {
  return priorityScheduling ? new PriorityQueue<T>() : new FifoQueue<T>();
}

/** FIFO deque: an array with a moving head, compacted now and then. */
class FifoQueue<T> implements WaitingQueue<T> {
  private items: Sequence<T>[] = [];
  private head = 0;
  size = 0;

  push(seq: Sequence<T>): void {
    this.items.push(seq);
    this.size++;
  }

  pushFront(seq: Sequence<T>): void {
    if (this.head > 0) this.items[--this.head] = seq;
    else this.items.unshift(seq);
    this.size++;
  }

  peek(): Sequence<T> | undefined {
    while (this.head < this.items.length) {
      const seq = this.items[this.head];
      if (seq.state === 'waiting') return seq;
      this.head++; // lazily dropped (aborted while waiting)
    }
    if (this.head > 0) {
      this.items = []; // everything before head is gone
      this.head = 0;
    }
    return undefined;
  }

  shift(): Sequence<T> | undefined {
    const seq = this.peek();
    if (seq) {
      this.head++;
      this.size--;
      if (this.head > 1024 && this.head * 2 > this.items.length) this.compact();
    }
    return seq;
  }

  removed(): void {
    this.size--;
  }

  drain(): Sequence<T>[] {
    const live = this.items.slice(this.head).filter((s) => s.state === 'waiting');
    this.items = [];
    this.head = 0;
    this.size = 0;
    return live;
  }

  private compact(): void {
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}

/**
 * Binary min-heap on (priority, arrival). A preempted sequence keeps its arrival number, so it
 * goes ahead of every later arrival of the same priority, as vLLM's priority queue does.
 */
class PriorityQueue<T> implements WaitingQueue<T> {
  private heap: Sequence<T>[] = [];
  size = 0;

  private static less<U>(a: Sequence<U>, b: Sequence<U>): boolean {
    return a.priority !== b.priority ? a.priority < b.priority : a.arrival < b.arrival;
  }

  push(seq: Sequence<T>): void {
    const heap = this.heap;
    heap.push(seq);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!PriorityQueue.less(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
    this.size++;
  }

  pushFront(seq: Sequence<T>): void {
    this.push(seq);
  }

  peek(): Sequence<T> | undefined {
    while (this.heap.length > 0 && this.heap[0].state !== 'waiting') this.popTop();
    return this.heap[0];
  }

  shift(): Sequence<T> | undefined {
    const seq = this.peek();
    if (seq) {
      this.popTop();
      this.size--;
    }
    return seq;
  }

  removed(): void {
    this.size--;
  }

  drain(): Sequence<T>[] {
    const live = this.heap.filter((s) => s.state === 'waiting');
    this.heap = [];
    this.size = 0;
    return live;
  }

  private popTop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && PriorityQueue.less(heap[l], heap[m])) m = l;
      if (r < heap.length && PriorityQueue.less(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
}
