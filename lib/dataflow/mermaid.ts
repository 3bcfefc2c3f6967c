/** Renders a dataflow graph as Mermaid flowchart text (`idx graph`). */
import type { Dataflow } from './types.ts';

function label(text: string): string {
  return text.replace(/"/g, '#quot;');
}

/** Mermaid `flowchart LR` text: one node per step (id and type), solid edges for next, dotted for error. */
export function toMermaid(dataflow: Dataflow): string {
  const ids = new Map(dataflow.steps.map((s, i) => [s.id, `s${i}`]));
  const lines = ['flowchart LR'];
  for (const s of dataflow.steps)
    lines.push(`  ${ids.get(s.id)}["${label(s.id)}<br/><small>${label(s.type)}</small>"]`);
  for (const s of dataflow.steps) {
    for (const n of s.next) if (ids.has(n)) lines.push(`  ${ids.get(s.id)} --> ${ids.get(n)}`);
    for (const n of s.error) if (ids.has(n)) lines.push(`  ${ids.get(s.id)} -. error .-> ${ids.get(n)}`);
  }
  return `${lines.join('\n')}\n`;
}
