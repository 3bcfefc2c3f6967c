/**
 * Names of the parts of a split output file: the first part keeps the name, later parts get `_<n>` before the
 * extension (`x.csv`, `x_2.csv`, `x_3.csv`), so a run that needs one file writes exactly the name asked for.
 */

/** The name of part `n` (1-based) of `name`. */
export function partName(name: string, n: number): string {
  if (n <= 1) return name;
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  // A dot that starts the base name (".env") or belongs to a folder is not an extension.
  if (dot <= slash + 1) return `${name}_${n}`;
  return `${name.slice(0, dot)}_${n}${name.slice(dot)}`;
}
