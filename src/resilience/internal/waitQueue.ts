/**
 * The calls waiting for one key: a FIFO list per priority, linked through the waiters
 * themselves so that leaving the queue (interruption, shedding, timeout) is O(1) and a
 * queued call costs one object; plus a min-heap of their deadlines, indexed through the
 * waiters too, because a waiter's deadline is its own (the queue's `maxWait`, or sooner the
 * caller's deadline), so the oldest is not always the first to expire.
 *
 * @internal
 */

import { type HeapItem, IndexedHeap } from "./indexedHeap.js"

/**
 * What the queue needs of a waiter. `rank` 0 is the most urgent. `heapIndex` is its place in
 * the deadline heap; -1 when not in it (no deadline, or not queued).
 */
export interface QueueNode<N> extends HeapItem {
  readonly rank: number
  /** When the waiter gives up (epoch millis, may be `Infinity`). */
  readonly deadline: number
  prev: N | undefined
  next: N | undefined
  queued: boolean
}

export class WaitQueue<N extends QueueNode<N>> {
  private readonly heads: Array<N | undefined>
  private readonly tails: Array<N | undefined>
  /** The waiters with a finite deadline, earliest first. */
  private readonly deadlines = new IndexedHeap<N>((node) => node.deadline)
  size = 0

  constructor(readonly ranks: number) {
    this.heads = new Array<N | undefined>(ranks).fill(undefined)
    this.tails = new Array<N | undefined>(ranks).fill(undefined)
  }

  push(node: N): void {
    const tail = this.tails[node.rank]
    node.prev = tail
    node.next = undefined
    if (tail === undefined) this.heads[node.rank] = node
    else tail.next = node
    this.tails[node.rank] = node
    node.queued = true
    this.size++
    if (node.deadline !== Infinity) this.deadlines.push(node)
  }

  remove(node: N): void {
    if (!node.queued) return
    if (node.prev === undefined) this.heads[node.rank] = node.next
    else node.prev.next = node.next
    if (node.next === undefined) this.tails[node.rank] = node.prev
    else node.next.prev = node.prev
    node.prev = undefined
    node.next = undefined
    node.queued = false
    this.size--
    this.deadlines.remove(node)
  }

  /** The next waiter to serve: the oldest of the most urgent non-empty rank. */
  peek(): N | undefined {
    for (const head of this.heads) if (head !== undefined) return head
    return undefined
  }

  /** The waiter to shed for a newcomer of `rank`: the newest of the least urgent rank below it. */
  newestBelow(rank: number): N | undefined {
    for (let r = this.ranks - 1; r > rank; r--) {
      const tail = this.tails[r]
      if (tail !== undefined) return tail
    }
    return undefined
  }

  /** The earliest deadline of the waiting calls (`Infinity` when none has one). */
  earliestDeadline(): number {
    return this.deadlines.first?.deadline ?? Infinity
  }

  /** The waiter whose deadline comes first, if it is at or before `now`. */
  overdue(now: number): N | undefined {
    const first = this.deadlines.first
    return first !== undefined && first.deadline <= now ? first : undefined
  }

  /** Empty the queue, handing every waiter to `f`, most urgent first. */
  drain(f: (node: N) => void): void {
    let node = this.peek()
    while (node !== undefined) {
      this.remove(node)
      f(node)
      node = this.peek()
    }
  }
}
