// Money helpers shared by server and web: integer cents in, text out; never a float in between.

/** `118750` → `1187.50` (CSV form: no symbol, no separators). */
export function centsToDecimal(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new Error(`not a whole number of cents: ${cents}`);
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** `29952645` → `$299,526.45` (screens). */
export function formatDollars(cents: number): string {
  const [whole, frac] = centsToDecimal(cents).replace('-', '').split('.');
  const grouped = (whole ?? '0').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${cents < 0 ? '-' : ''}$${grouped}.${frac}`;
}
