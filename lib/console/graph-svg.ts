/**
 * A dataflow graph drawn as SVG for the Dataflow page: steps in columns by depth (left to right), `next` edges
 * solid, `error` edges dashed and labelled, as `idx graph` draws them in Mermaid. Every text is escaped; edges to
 * steps that do not exist (an invalid dataflow) are left out, and a graph with a cycle is drawn one step per
 * column in file order rather than refused, so the picture still shows what is wrong.
 */
import { levelsOf } from '../dataflow/graph.ts';
import type { Step } from '../dataflow/types.ts';
import { escapeHtml } from './html.ts';

const NODE_W = 190;
const NODE_H = 46;
const GAP_X = 70;
const GAP_Y = 24;
const PAD = 16;
/** Characters of a step id or type shown in a box; the whole text is in the box's tooltip. */
const MAX_LABEL = 26;

function cut(text: string): string {
  return text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;
}

/** The columns of the drawing: the graph's levels, or one step per column when it has a cycle. */
function columnsOf(steps: readonly Step[]): string[][] {
  try {
    return levelsOf(steps);
  } catch {
    return steps.map((s) => [s.id]);
  }
}

/** The SVG picture of a dataflow's steps. */
export function graphSvg(steps: readonly Step[]): string {
  const unique = steps.filter((s, i) => steps.findIndex((t) => t.id === s.id) === i);
  const columns = columnsOf(unique);
  const at = new Map<string, { x: number; y: number }>();
  for (const [c, ids] of columns.entries())
    for (const [r, id] of ids.entries()) at.set(id, { x: PAD + c * (NODE_W + GAP_X), y: PAD + r * (NODE_H + GAP_Y) });
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X;
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y + 20;
  const edges: string[] = [];
  for (const s of unique) {
    const from = at.get(s.id);
    if (!from) continue;
    const draw = (to: string, kind: 'next' | 'error') => {
      const target = at.get(to);
      if (!target) return;
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2 + (kind === 'error' ? 8 : 0);
      const x2 = target.x;
      const y2 = target.y + NODE_H / 2 + (kind === 'error' ? 8 : 0);
      const bend = Math.max(30, Math.abs(x2 - x1) / 2);
      const d = `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
      const title = `<title>${escapeHtml(`${s.id} → ${to}${kind === 'error' ? ' (rejected records)' : ''}`)}</title>`;
      edges.push(
        `<path class="edge edge-${kind}" d="${d}" marker-end="url(#arrow-${kind})" data-from="${escapeHtml(s.id)}" data-to="${escapeHtml(to)}">${title}</path>`,
      );
      if (kind === 'error')
        edges.push(
          `<text class="edge-label" x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle">error</text>`,
        );
    };
    for (const n of s.next) draw(n, 'next');
    for (const n of s.error) draw(n, 'error');
  }
  const nodes = unique.flatMap((s) => {
    const p = at.get(s.id);
    if (!p) return [];
    return [
      `<g class="node" data-step="${escapeHtml(s.id)}"><title>${escapeHtml(`${s.id} (${s.type})`)}</title>` +
        `<rect x="${p.x}" y="${p.y}" width="${NODE_W}" height="${NODE_H}" rx="6"/>` +
        `<text class="node-id" x="${p.x + 10}" y="${p.y + 19}">${escapeHtml(cut(s.id))}</text>` +
        `<text class="node-type" x="${p.x + 10}" y="${p.y + 36}">${escapeHtml(cut(s.type))}</text></g>`,
    ];
  });
  const marker = (kind: string) =>
    `<marker id="arrow-${kind}" class="arrow-${kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`;
  return (
    `<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="graph of the dataflow's steps">` +
    `<defs>${marker('next')}${marker('error')}</defs>${edges.join('')}${nodes.join('')}</svg>`
  );
}
