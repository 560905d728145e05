// Calls to the server's JSON routes with the key pasted into the page, and the stats stream.
//
// The key is kept in sessionStorage (gone with the tab) and sent as "Authorization: Bearer" on
// every call, the stream included: the stream is read with fetch() rather than EventSource,
// which cannot send headers, so no key ever travels in a URL (where logs and history keep it).

const kKeyStorage = "liverec.key";
// After a stream ends or fails: wait this long before opening it again.
const kReconnectMs = 2000;

export function apiKey(): string {
  return sessionStorage.getItem(kKeyStorage) ?? "";
}

export function setApiKey(key: string): void {
  if (key) sessionStorage.setItem(kKeyStorage, key);
  else sessionStorage.removeItem(kKeyStorage);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// The JSON answer of `path`; an ApiError with the server's message for any other status.
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const request: RequestInit = { method: init.method ?? "GET", cache: "no-store" };
  if (init.body !== undefined) {
    request.body = JSON.stringify(init.body);
    request.headers = headers({ "Content-Type": "application/json" });
  } else {
    request.headers = headers();
  }
  const response = await fetch(path, request);
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { message?: string } } | null)?.error;
    throw new ApiError(response.status, `${response.status}: ${error?.message ?? text}`);
  }
  return parsed as T;
}

export type StreamState = { kind: "connecting" } | { kind: "live" } | { kind: "error"; message: string };

// Reads GET /v1/stats/stream for as long as the page lives: `onData` gets each event's parsed
// JSON, `onState` the connection's state. Reconnects after kReconnectMs when the stream ends.
export function followStats(onData: (data: unknown) => void, onState: (s: StreamState) => void): void {
  const run = async (): Promise<void> => {
    onState({ kind: "connecting" });
    try {
      const response = await fetch("/v1/stats/stream", { headers: headers(), cache: "no-store" });
      if (!response.ok || response.body === null) {
        const text = await response.text();
        let message = text;
        try {
          message = JSON.parse(text).error.message;
        } catch {
          // Not an error body of the API: show it as it came.
        }
        onState({ kind: "error", message: `${response.status}: ${message}` });
      } else {
        onState({ kind: "live" });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split("\n")
              .filter((line) => line.startsWith("data:"))
              .map((line) => line.slice(5).replace(/^ /, ""))
              .join("\n");
            if (data) onData(JSON.parse(data));
          }
        }
        onState({ kind: "error", message: "stream ended" });
      }
    } catch (e) {
      onState({ kind: "error", message: String(e) });
    }
    setTimeout(run, kReconnectMs);
  };
  void run();
}
