/**
 * The limiter's wait queue: whatever calls join and leave, it serves the oldest of the most
 * urgent priority, and knows the earliest deadline among those still waiting (each call has
 * its own, so the oldest is not always the first to expire).
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { type QueueNode, WaitQueue } from "../src/resilience/internal/waitQueue.js"

class Node implements QueueNode<Node> {
  prev: Node | undefined = undefined
  next: Node | undefined = undefined
  queued = false
  heapIndex = -1
  constructor(readonly id: number, readonly rank: number, readonly deadline: number) {}
}

const operation = fc.oneof(
  fc.record({ op: fc.constant("push" as const), rank: fc.integer({ min: 0, max: 2 }), deadline: fc.oneof({ arbitrary: fc.noBias(fc.integer({ min: 0, max: 100 })), weight: 4 }, { arbitrary: fc.constant(Infinity), weight: 1 }) }),
  fc.record({ op: fc.constant("remove" as const), pick: fc.noBias(fc.nat()) }),
  fc.record({ op: fc.constant("expire" as const), now: fc.integer({ min: 0, max: 100 }) })
)

describe("WaitQueue", () => {
  it("serves by priority then age, and finds the earliest deadline, under any joins and leaves", () =>
    fc.assert(fc.property(fc.array(operation, { minLength: 30, maxLength: 200 }), (operations) => {
      const queue = new WaitQueue<Node>(3)
      // The model: the waiting nodes in arrival order.
      let waiting: Array<Node> = []
      let id = 0
      for (const step of operations) {
        if (step.op === "push") {
          const node = new Node(id++, step.rank, step.deadline)
          queue.push(node)
          waiting.push(node)
        } else if (step.op === "remove") {
          if (waiting.length === 0) continue
          const node = waiting[step.pick % waiting.length]!
          queue.remove(node)
          waiting = waiting.filter((n) => n !== node)
        } else {
          // What the dispatcher does: take every overdue waiter, earliest deadline first.
          const expired: Array<number> = []
          for (let node = queue.overdue(step.now); node !== undefined; node = queue.overdue(step.now)) {
            expired.push(node.deadline)
            queue.remove(node)
          }
          const due = waiting.filter((n) => n.deadline <= step.now)
          expect([...expired]).toEqual(due.map((n) => n.deadline).sort((a, b) => a - b))
          waiting = waiting.filter((n) => n.deadline > step.now)
        }
        expect(queue.size).toBe(waiting.length)
        expect(queue.earliestDeadline()).toBe(Math.min(Infinity, ...waiting.map((n) => n.deadline)))
        const mostUrgent = Math.min(...waiting.map((n) => n.rank))
        expect(queue.peek()).toBe(waiting.find((n) => n.rank === mostUrgent))
      }
      // Leaving twice is harmless; the queue empties.
      for (const node of waiting) {
        queue.remove(node)
        queue.remove(node)
      }
      expect(queue.size).toBe(0)
      expect(queue.earliestDeadline()).toBe(Infinity)
      expect(queue.peek()).toBeUndefined()
    }), { numRuns: 1000 }))

  it("a waiter that leaves from deep in the deadline heap does not hide an earlier deadline", () => {
    // A sequence found by random search: without re-sifting upwards the node moved into a
    // leaver's place, the heap reported 16 while a waiter's deadline was 4.
    const steps: ReadonlyArray<readonly ["push" | "remove", number]> = [
      ["push", 92], ["push", 32], ["push", 48], ["push", 0], ["push", 76], ["push", 72], ["push", 72], ["push", 48],
      ["remove", 92], ["push", 40], ["remove", 32], ["remove", 72], ["push", 0], ["remove", 76], ["remove", 48],
      ["push", 16], ["push", 4], ["remove", 72], ["remove", 0], ["push", 72], ["remove", 0]
    ]
    const queue = new WaitQueue<Node>(3)
    const waiting: Array<Node> = []
    steps.forEach(([op, deadline], id) => {
      if (op === "push") {
        const node = new Node(id, 0, deadline)
        queue.push(node)
        waiting.push(node)
      } else {
        const index = waiting.findIndex((node) => node.deadline === deadline)
        queue.remove(waiting[index]!)
        waiting.splice(index, 1)
      }
    })
    expect(queue.earliestDeadline()).toBe(4)
    expect(queue.overdue(10)?.deadline).toBe(4)
  })
})
