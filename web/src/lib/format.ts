// Numbers as people read them, in the browser's locale.
const counts = new Intl.NumberFormat();

export const n = (x: number): string => counts.format(x);

/** "1 request", "2 requests" */
export const plural = (x: number, one: string, many = `${one}s`): string => `${n(x)} ${x === 1 ? one : many}`;
