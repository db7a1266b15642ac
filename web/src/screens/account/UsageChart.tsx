import { useId } from 'react';
import type { UsageDay } from '../../api/types';
import { n } from '../../lib/format';

export interface DayPoint {
  day: string;
  input: number;
  output: number;
  requests: number;
}

/** Every day from `from` to `to` (YYYY-MM-DD, UTC, inclusive), zero where
 * the API listed nothing. */
export function fillDays(from: string, to: string, days: UsageDay[]): DayPoint[] {
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out: DayPoint[] = [];
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  if (Number.isNaN(start) || Number.isNaN(end)) return out;
  for (let t = start; t <= end && out.length < 400; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    const d = byDay.get(day);
    out.push({ day, input: d?.input_tokens ?? 0, output: d?.output_tokens ?? 0, requests: d?.requests ?? 0 });
  }
  return out;
}


function shortDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

function niceMax(v: number): number {
  if (v <= 0) return 10;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A stacked bar chart of input and output tokens per day, drawn as SVG,
 * with a table of the same numbers for anyone who cannot see it. */
export function UsageChart({ points }: { points: DayPoint[] }) {
  const titleId = useId();
  const descId = useId();
  const W = 720;
  const H = 220;
  const padL = 48;
  const padR = 8;
  const padT = 12;
  const padB = 28;
  const plotW = W - padL - padR;
  const plotH = H - padT - padB;
  const max = niceMax(Math.max(0, ...points.map((p) => p.input + p.output)));
  const slot = points.length ? plotW / points.length : plotW;
  const barW = Math.max(2, slot * 0.7);
  const y = (v: number) => padT + plotH - (v / max) * plotH;
  const totalIn = points.reduce((a, p) => a + p.input, 0);
  const totalOut = points.reduce((a, p) => a + p.output, 0);
  const busiest = points.reduce<DayPoint | null>(
    (best, p) => (!best || p.input + p.output > best.input + best.output ? p : best),
    null,
  );
  const labelEvery = Math.max(1, Math.ceil(points.length / 6));
  const first = points[0]?.day;
  const last = points[points.length - 1]?.day;

  return (
    <figure>
      <svg
        role="img"
        aria-labelledby={`${titleId} ${descId}`}
        viewBox={`0 0 ${W} ${H}`}
        className="h-auto w-full"
        preserveAspectRatio="xMidYMid meet"
      >
        <title id={titleId}>Tokens used per day</title>
        <desc id={descId}>
          {first && last
            ? `From ${first} to ${last}: ${n(totalIn)} input and ${n(totalOut)} output tokens.` +
              (busiest && busiest.input + busiest.output > 0
                ? ` Busiest day ${busiest.day} with ${n(busiest.input + busiest.output)} tokens.`
                : ' No usage in this period.')
            : 'No data.'}
        </desc>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={padL} x2={W - padR} y1={y(max * f)} y2={y(max * f)} className="stroke-gray-200" strokeWidth={1} />
            <text x={padL - 6} y={y(max * f) + 4} textAnchor="end" className="fill-gray-600 text-[11px]">
              {n(max * f)}
            </text>
          </g>
        ))}
        {points.map((p, i) => {
          const x = padL + i * slot + (slot - barW) / 2;
          const hIn = (p.input / max) * plotH;
          const hOut = (p.output / max) * plotH;
          return (
            <g key={p.day}>
              <title>{`${p.day}: ${n(p.input)} input, ${n(p.output)} output tokens`}</title>
              <rect x={x} y={padT + plotH - hIn} width={barW} height={hIn} className="fill-gray-500" />
              <rect x={x} y={padT + plotH - hIn - hOut} width={barW} height={hOut} className="fill-accent-600" />
              {i % labelEvery === 0 ? (
                <text x={x + barW / 2} y={H - 8} textAnchor="middle" className="fill-gray-600 text-[11px]">
                  {shortDay(p.day)}
                </text>
              ) : null}
            </g>
          );
        })}
        <line x1={padL} x2={W - padR} y1={padT + plotH} y2={padT + plotH} className="stroke-gray-400" strokeWidth={1} />
      </svg>
      <figcaption className="mt-2 flex flex-wrap gap-4 text-xs text-gray-700">
        <span className="inline-flex items-center gap-1.5">
          <span aria-hidden="true" className="inline-block h-3 w-3 rounded-sm bg-gray-500" /> Input tokens
        </span>
        <span className="inline-flex items-center gap-1.5">
          <span aria-hidden="true" className="inline-block h-3 w-3 rounded-sm bg-accent-600" /> Output tokens
        </span>
      </figcaption>
      <details className="mt-3">
        <summary className="cursor-pointer rounded text-sm font-medium text-accent-700 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-accent-600">
          Show as a table
        </summary>
        <div className="relative mt-2 max-h-72 overflow-auto" tabIndex={0} role="region" aria-label="Tokens per day, table">
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Tokens used per day</caption>
            <thead className="sticky top-0 bg-white text-gray-700">
              <tr>
                <th scope="col" className="py-1 pr-4 font-medium">Day (UTC)</th>
                <th scope="col" className="py-1 pr-4 text-right font-medium">Requests</th>
                <th scope="col" className="py-1 pr-4 text-right font-medium">Input tokens</th>
                <th scope="col" className="py-1 text-right font-medium">Output tokens</th>
              </tr>
            </thead>
            <tbody>
              {points.map((p) => (
                <tr key={p.day} className="border-t border-gray-100">
                  <th scope="row" className="py-1 pr-4 font-normal">{p.day}</th>
                  <td className="py-1 pr-4 text-right tabular-nums">{n(p.requests)}</td>
                  <td className="py-1 pr-4 text-right tabular-nums">{n(p.input)}</td>
                  <td className="py-1 text-right tabular-nums">{n(p.output)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
