import type { InputHTMLAttributes } from 'react';

// A labelled search box for a filter form: the label above, the input
// filling its share of the row (basis sets that share).

export function SearchField({
  id,
  label,
  value,
  onChange,
  basis = 'basis-56',
  className = 'input',
  ...input
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  basis?: string;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'type' | 'value' | 'onChange'>) {
  return (
    <div className={`min-w-0 flex-1 ${basis}`}>
      <label htmlFor={id} className="label">
        {label}
      </label>
      <input
        {...input}
        id={id}
        type="search"
        className={className}
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}
