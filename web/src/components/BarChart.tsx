/** A small, accessible bar chart (SVG with a data table behind it for screen readers). */
import { useId } from "react";

export interface Bar {
  label: string;
  value: number;
}

export function BarChart({ title, bars, format }: { title: string; bars: Bar[]; format: (value: number) => string }) {
  const id = useId();
  const max = Math.max(1, ...bars.map((b) => Math.abs(b.value)));
  const width = 28;
  const height = 120;
  return (
    <figure className="chart" aria-labelledby={id}>
      <figcaption id={id}>{title}</figcaption>
      <svg viewBox={`0 0 ${Math.max(1, bars.length) * (width + 6)} ${height + 20}`} role="img" aria-hidden="true">
        {bars.map((bar, i) => {
          const h = Math.round((Math.abs(bar.value) / max) * height);
          return (
            <g key={bar.label} transform={`translate(${i * (width + 6)},0)`}>
              <rect x={0} y={height - h} width={width} height={h} className="bar" />
              <text x={width / 2} y={height + 14} textAnchor="middle" className="axis">
                {bar.label.slice(5)}
              </text>
            </g>
          );
        })}
      </svg>
      <table className="visually-hidden">
        <tbody>
          {bars.map((bar) => (
            <tr key={bar.label}>
              <th scope="row">{bar.label}</th>
              <td>{format(bar.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
