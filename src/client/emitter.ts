// A tiny typed event emitter that works the same in browsers and Node. Unlike Node's EventEmitter,
// an 'error' event without listeners is not thrown; like EventTarget, a listener that throws does
// not stop the others, and its exception is re-thrown asynchronously so it is not lost.

export type Listener<T> = (value: T) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener<never>);
    return this;
  }

  once<K extends keyof Events>(event: K, fn: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (value) => {
      this.off(event, wrapper);
      fn(value);
    };
    return this.on(event, wrapper);
  }

  off<K extends keyof Events>(event: K, fn: Listener<Events[K]>): this {
    this.listeners.get(event)?.delete(fn as Listener<never>);
    return this;
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<Events[K]>)(value);
      } catch (err) {
        setTimeout(() => { throw err; }, 0);
      }
    }
  }
}
