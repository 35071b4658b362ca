interface ChoiceFilterProps {
  id: string;
  label: string;
  value: string;
  choices: readonly string[];
  onChange: (e: Event) => void;
}

/** A list filter's <select>: "any" (empty value, no filter) and then each choice. */
export function ChoiceFilter({ id, label, value, choices, onChange }: ChoiceFilterProps) {
  return (
    <div>
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={onChange}>
        <option value="">any</option>
        {choices.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    </div>
  );
}

/** `set('name')` → an input handler that copies the field's value into a filter draft. */
export function draftSetter<T extends object>(draft: T, setDraft: (next: T) => void) {
  return (key: keyof T) => (e: Event) => setDraft({ ...draft, [key]: (e.target as HTMLInputElement).value });
}
