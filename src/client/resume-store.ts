// A page reload should come back as the same member (same cid, nobody sees leave + join): the
// resume state is kept in sessionStorage, which survives a reload but not the tab. One live handle
// per room key owns the entry, so two handles of one page never resume each other's member.

export interface ResumeState {
  token: string;
  cid: string;
  epoch?: string;
  lastSeq: number;
  /** The last `n` received of the messages sent to this member alone. */
  seen?: number;
}

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const claimed = new Set<string>();

export function sessionStore(): StorageLike | undefined {
  try {
    const s = (globalThis as { sessionStorage?: StorageLike }).sessionStorage;
    return s && typeof s.getItem === 'function' ? s : undefined;
  } catch {
    return undefined; // a sandboxed frame may throw on access
  }
}

export class ResumeStore {
  private constructor(private readonly storage: StorageLike, private readonly key: string) {}

  /** The store for `key`, or undefined when there is no sessionStorage or another handle holds the key. */
  static claim(key: string): ResumeStore | undefined {
    const storage = sessionStore();
    if (!storage || claimed.has(key)) return undefined;
    claimed.add(key);
    return new ResumeStore(storage, key);
  }

  load(): ResumeState | undefined {
    try {
      const v: unknown = JSON.parse(this.storage.getItem(this.key) ?? 'null');
      if (typeof v !== 'object' || v === null) return undefined;
      const { token, cid, epoch, lastSeq, seen } = v as Record<string, unknown>;
      if (typeof token !== 'string' || typeof cid !== 'string' || typeof lastSeq !== 'number') return undefined;
      return { token, cid, lastSeq, ...(typeof epoch === 'string' ? { epoch } : {}), ...(typeof seen === 'number' ? { seen } : {}) };
    } catch {
      return undefined;
    }
  }

  save(state: ResumeState): void {
    try {
      this.storage.setItem(this.key, JSON.stringify(state));
    } catch {
      /* storage full or disabled: the next reload starts afresh */
    }
  }

  /** Forget the entry (close()) and let another handle claim the key. */
  clear(): void {
    try {
      this.storage.removeItem(this.key);
    } catch {
      /* ignore */
    }
    this.release();
  }

  release(): void {
    claimed.delete(this.key);
  }
}
