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

/**
 * Where each step is drawn: its column and row. The success path (the steps reached from the entry over `next`)
 * takes the top rows, each step one column after its deepest predecessor; the steps only rejected records reach
 * (error reports) take the rows below, starting one column after the first step that sends them records, so a
 * long chain with an error report does not grow twice as wide. A graph with a cycle is drawn one step per column.
 */
function placesOf(steps: readonly Step[]): Map<string, { col: number; row: number }> {
  const ids = new Set(steps.map((s) => s.id));
  const byId = new Map(steps.map((s) => [s.id, s]));
  const main = new Set<string>();
  const queue = steps
    .filter((s) => !steps.some((t) => t.next.includes(s.id) || t.error.includes(s.id)))
    .map((s) => s.id);
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    if (main.has(id)) continue;
    main.add(id);
    for (const n of byId.get(id)?.next ?? []) if (ids.has(n)) queue.push(n);
  }
  const places = new Map<string, { col: number; row: number }>();
  let mainLevels: string[][];
  try {
    mainLevels = levelsOf(
      steps.filter((s) => main.has(s.id)).map((s) => ({ ...s, next: s.next.filter((n) => main.has(n)), error: [] })),
    );
    // The rest must be acyclic too for the columns below to settle.
    levelsOf(steps.map((s) => ({ ...s, next: [...s.next, ...s.error].filter((n) => ids.has(n)), error: [] })));
  } catch {
    for (const [i, s] of steps.entries()) places.set(s.id, { col: i, row: 0 });
    return places;
  }
  for (const [col, level] of mainLevels.entries())
    for (const [row, id] of level.entries()) places.set(id, { col, row });
  const mainRows = Math.max(1, ...mainLevels.map((l) => l.length));
  const rest = steps.filter((s) => !main.has(s.id));
  const colOf = new Map<string, number>();
  // Longest-path columns over an acyclic graph settle within as many passes as there are steps.
  for (let pass = 0; pass <= rest.length; pass++) {
    for (const s of rest) {
      const viaError = steps.filter((t) => t.error.includes(s.id)).map((t) => places.get(t.id)?.col ?? colOf.get(t.id));
      const viaNext = steps.filter((t) => t.next.includes(s.id)).map((t) => places.get(t.id)?.col ?? colOf.get(t.id));
      const known = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
      const fromError = known(viaError).length ? Math.min(...known(viaError)) + 1 : 0;
      const fromNext = known(viaNext).length ? Math.max(...known(viaNext)) + 1 : 0;
      colOf.set(s.id, Math.max(fromError, fromNext));
    }
  }
  const rowsUsed = new Map<number, number>();
  for (const s of rest) {
    const col = colOf.get(s.id) ?? 0;
    const row = mainRows + (rowsUsed.get(col) ?? 0);
    rowsUsed.set(col, (rowsUsed.get(col) ?? 0) + 1);
    places.set(s.id, { col, row });
  }
  return places;
}

/** The SVG picture of a dataflow's steps. */
export function graphSvg(steps: readonly Step[]): string {
  const unique = steps.filter((s, i) => steps.findIndex((t) => t.id === s.id) === i);
  const places = placesOf(unique);
  const at = new Map<string, { x: number; y: number }>();
  for (const [id, p] of places) at.set(id, { x: PAD + p.col * (NODE_W + GAP_X), y: PAD + p.row * (NODE_H + GAP_Y) });
  const columns = Math.max(1, ...[...places.values()].map((p) => p.col + 1));
  const rows = Math.max(1, ...[...places.values()].map((p) => p.row + 1));
  const width = PAD * 2 + columns * NODE_W + (columns - 1) * GAP_X;
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y + 20;
  const edges: string[] = [];
  for (const s of unique) {
    const from = at.get(s.id);
    if (!from) continue;
    const draw = (to: string, kind: 'next' | 'error') => {
      const target = at.get(to);
      if (!target) return;
      // Along a row: from the right side to the left side. Down to a lower row (an error report): from the
      // bottom to the top, so the edge never runs back across the boxes of the row it leaves.
      const down = target.y > from.y;
      const shift = kind === 'error' ? 8 : 0;
      const x1 = down ? from.x + NODE_W / 2 + shift : from.x + NODE_W;
      const y1 = down ? from.y + NODE_H : from.y + NODE_H / 2 + shift;
      const x2 = down ? target.x + NODE_W / 2 : target.x;
      const y2 = down ? target.y : target.y + NODE_H / 2 + shift;
      const bend = Math.max(30, (down ? Math.abs(y2 - y1) : Math.abs(x2 - x1)) / 2);
      const d = down
        ? `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`
        : `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
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
