/**
 * A binary min-heap whose items know their place in it (`heapIndex`), so that any item can
 * leave in O(log n), not only the smallest: the client's timers (disarmed when an attempt
 * ends) and the limiter's waiters (leaving the queue when admitted, shed or interrupted).
 *
 * @internal
 */

/** What the heap needs of an item: its place, -1 while it is not in the heap. */
export interface HeapItem {
  heapIndex: number
}

export class IndexedHeap<T extends HeapItem> {
  private readonly items: Array<T> = []

  /** `keyOf`: the item's priority, smallest first; it must not change while the item is in the heap. */
  constructor(private readonly keyOf: (item: T) => number) {}

  get size(): number {
    return this.items.length
  }

  /** The item with the smallest key. */
  get first(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    item.heapIndex = this.items.length
    this.items.push(item)
    this.siftUp(item.heapIndex)
  }

  /** Take `item` out, wherever it is; nothing happens when it is not in the heap. */
  remove(item: T): void {
    const index = item.heapIndex
    if (index < 0) return
    item.heapIndex = -1
    const last = this.items.pop()!
    if (last === item) return
    this.items[index] = last
    last.heapIndex = index
    // The item moved into the hole may belong above it (another branch) or below it.
    this.siftDown(index)
    this.siftUp(last.heapIndex)
  }

  private siftUp(index: number): void {
    const items = this.items
    const item = items[index]!
    const key = this.keyOf(item)
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex]!
      if (this.keyOf(parent) <= key) break
      items[index] = parent
      parent.heapIndex = index
      index = parentIndex
    }
    items[index] = item
    item.heapIndex = index
  }

  private siftDown(index: number): void {
    const items = this.items
    const item = items[index]!
    const key = this.keyOf(item)
    const length = items.length
    while (true) {
      const left = 2 * index + 1
      if (left >= length) break
      const right = left + 1
      const child = right < length && this.keyOf(items[right]!) < this.keyOf(items[left]!) ? right : left
      if (this.keyOf(items[child]!) >= key) break
      items[index] = items[child]!
      items[index]!.heapIndex = index
      index = child
    }
    items[index] = item
    item.heapIndex = index
  }
}
