// The one call the server and the benchmark make: stream the file through the XML reader and the
// validator together, optionally handing each valid row on (awaited when it returns a promise).
import { FileValidator, type ParsedRow, type ValidationResult, type ValidatorOptions } from './validate.js';
import { type ReaderLimits, readRows } from './xml-reader.js';

export interface ParseOptions extends ValidatorOptions {
  limits?: ReaderLimits;
}

/** Throws XmlError when the file is not acceptable XML; validation problems are in the result. */
export async function parseAndValidate(
  source: AsyncIterable<Buffer | Uint8Array>,
  onValidRow?: (row: ParsedRow) => unknown,
  opts: ParseOptions = {},
): Promise<ValidationResult> {
  const validator = new FileValidator(opts);
  await readRows(
    source,
    onValidRow === undefined
      ? (raw) => {
          validator.add(raw);
        }
      : (raw) => {
          const row = validator.add(raw);
          return row === null ? undefined : onValidRow(row);
        },
    opts.limits,
  );
  return validator.finish();
}
