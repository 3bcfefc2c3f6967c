import { IdxError, showValue } from '../core/errors.ts';
import { regexProblem } from '../core/regex.ts';
import { defineScript, type ScriptCheckProblem } from '../core/script.ts';
import { cachedValue } from './util/compiled.ts';
import { type CompiledExpression, compileExpression, createJexl, literalRegexes } from './util/jexl.ts';
import { deletePath, getPath, hasPath, setPath } from './util/paths.ts';

/** `field.evaluate`: computes fields from JEXL expressions. */
export const fieldEvaluate = defineScript({
  type: 'field.evaluate',
  summary: "Sets fields to the value of JEXL expressions over the record (e.g. status eq 'subscribed' ? true : false).",
  description:
    'Expressions are compiled once per step and run in the order listed; a later expression sees what an ' +
    'earlier one wrote. Syntax is jexl (JavaScript JEXL) with the Apache Commons JEXL operators IdentitySync ' +
    'dataflows use: `eq ne lt le gt ge and or not`, `=~` (matches a regular expression, or is in an array), ' +
    '`!~`, `=^` (starts with), `=$` (ends with), functions `empty(x)` and `size(x)`, and the transforms ' +
    '`|lower |upper |trim |length |string |number |split(sep) |join(sep) |substring(a, b) |replace(re, s) ' +
    '|default(v)`. `null` is an absent value. Field names: `a.b.c` walks nested objects and also reads a flat ' +
    'field named `a.b.c`; an absent name such as `data_subscribed` reads the path `data.subscribed`. A result ' +
    'of undefined (an absent field) removes the target field. An expression that fails on a record sends that ' +
    'record, unchanged, to the error path with the message; one that does not parse fails validation.',
  consumes: 'records',
  produces: 'records',
  params: {
    language: {
      type: 'string',
      enum: ['jexl'],
      default: 'jexl',
      description: 'The expression language; only "jexl" exists.',
    },
    fields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'The fields to compute.',
      items: {
        type: 'object',
        description: 'One computed field.',
        properties: {
          field: { type: 'string', required: true, description: 'Path of the field to set.' },
          expression: {
            type: 'string',
            required: true,
            verbatim: true,
            description: 'The JEXL expression; its value is stored in `field`.',
            examples: ["status eq 'subscribed' ? true : false", 'C_FirstName + " " + C_LastName'],
          },
        },
      },
    },
  },
  lanes: { records: true },
  check(params) {
    const problems: ScriptCheckProblem[] = [];
    const jexl = createJexl();
    params.fields.forEach((f, i) => {
      try {
        compileExpression(jexl, f.expression);
      } catch (error) {
        problems.push({
          code: 'IDX_EXPRESSION_INVALID',
          path: `fields[${i}].expression`,
          message: `the expression for "${f.field}" does not compile: ${(error as Error).message}`,
          expected: 'a JEXL expression',
          received: JSON.stringify(f.expression),
        });
        return;
      }
      // Patterns written in the expression are compiled now; one read from a record is checked when it is used.
      for (const { pattern, where } of literalRegexes(jexl, f.expression)) {
        const problem = regexProblem(pattern);
        if (!problem) continue;
        problems.push({
          code: problem.code,
          path: `fields[${i}].expression`,
          message: `the regular expression of ${where} in the expression for "${f.field}" cannot be used: ${problem.message}`,
          expected: 'a regular expression RE2 runs: no backreferences, lookaround or possessive quantifiers',
          received: showValue(pattern, 200),
        });
      }
    });
    return problems;
  },
  create(params, ctx) {
    // Compiled once per list of expressions in this process: a laned step starts again for every chunk.
    const rules = cachedValue(`field.evaluate\u0000${JSON.stringify(params.fields)}`, () => {
      const jexl = createJexl();
      return params.fields.map((f, i): { field: string; expression: CompiledExpression } => {
        try {
          return { field: f.field, expression: compileExpression(jexl, f.expression) };
        } catch (error) {
          throw new IdxError(
            'IDX_EXPRESSION_INVALID',
            `the expression for "${f.field}" does not compile: ${(error as Error).message}`,
            {
              stepId: ctx.stepId,
              param: `fields[${i}].expression`,
              expected: 'a JEXL expression',
              received: JSON.stringify(f.expression),
            },
          );
        }
      });
    });
    const single = rules.length === 1 ? rules[0] : undefined;
    return {
      records(batch, out) {
        for (const record of batch) {
          if (single) {
            // One rule: nothing to undo when it fails, so no snapshot.
            let value: unknown;
            try {
              value = single.expression.evaluate(record);
            } catch (error) {
              out.reject(record, {
                code: 'IDX_EXPRESSION_FAILED',
                message: `${single.field}: ${(error as Error).message}`,
                field: single.field,
              });
              continue;
            }
            if (value === undefined) deletePath(record, single.field);
            else setPath(record, single.field, value);
            out.emit(record);
            continue;
          }
          const before: [string, boolean, unknown][] = [];
          let failed: { field: string; message: string } | undefined;
          for (const rule of rules) {
            let value: unknown;
            try {
              value = rule.expression.evaluate(record);
            } catch (error) {
              failed = { field: rule.field, message: (error as Error).message };
              break;
            }
            before.push([rule.field, hasPath(record, rule.field), getPath(record, rule.field)]);
            if (value === undefined) deletePath(record, rule.field);
            else setPath(record, rule.field, value);
          }
          if (failed) {
            // The error path gets the record as it arrived.
            for (let i = before.length - 1; i >= 0; i--) {
              const [field, existed, value] = before[i]!;
              if (existed) setPath(record, field, value);
              else deletePath(record, field);
            }
            out.reject(record, {
              code: 'IDX_EXPRESSION_FAILED',
              message: `${failed.field}: ${failed.message}`,
              field: failed.field,
            });
            continue;
          }
          out.emit(record);
        }
      },
    };
  },
});
