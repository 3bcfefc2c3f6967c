/** Escaping for the console's HTML: every text that reaches a page passes through {@link escapeHtml}. */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A path segment for a link (step and dataflow ids may hold spaces and punctuation). */
export function segment(id: string): string {
  return encodeURIComponent(id);
}
