/** Commander argument parser for a repeatable option: each use adds its value to the list. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * Commander argument parser for a count: decimal digits only, else NaN, which the argument check
 * (arguments.ts) refuses with the option's name. `Number.parseInt` would take `12abc` as 12.
 */
export const wholeNumber = (value: string): number => (/^\d{1,9}$/.test(value) ? Number(value) : Number.NaN);
