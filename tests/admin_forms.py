"""Build admin POSTs from the form a page renders, as a browser would submit it.

A test that adds fields the page never renders proves nothing about the page,
so admin tests start from ``rendered_form(response)`` and change only what a
person could change there.
"""

from html.parser import HTMLParser


class _FormParser(HTMLParser):
    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.depth = 0  # >0 while inside the wanted form
        self.fields: dict[str, list[str]] = {}
        self.names: set[str] = set()
        self._select = None
        self._select_multiple = False
        self._select_options: list[tuple[str, bool]] = []
        self._textarea = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            if self.depth or self.form_id is None or attrs.get("id") == self.form_id:
                self.depth += 1
            return
        if not self.depth:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            self.names.add(name)
            kind = attrs.get("type", "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attrs:
                return
            default = "on" if kind in {"checkbox", "radio"} else ""
            self.fields.setdefault(name, []).append(attrs.get("value") or default)
        elif tag == "textarea" and name:
            self.names.add(name)
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self.names.add(name)
            self._select, self._select_multiple = name, "multiple" in attrs
            self._select_options = []
        elif tag == "option" and self._select:
            self._select_options.append((attrs.get("value", ""), "selected" in attrs))

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form" and self.depth:
            self.depth -= 1
        elif tag == "textarea" and self._textarea:
            text = "".join(self._text)
            # Browsers drop one newline right after <textarea>.
            self.fields.setdefault(self._textarea, []).append(text.removeprefix("\n"))
            self._textarea = None
        elif tag == "select" and self._select:
            chosen = [value for value, selected in self._select_options if selected]
            if not chosen and not self._select_multiple and self._select_options:
                chosen = [self._select_options[0][0]]
            if chosen:
                self.fields.setdefault(self._select, []).extend(chosen)
            self._select = None


class RenderedForm(dict):
    """The values a browser would submit, by field name; ``names`` lists every field shown."""

    names: set[str]

    def set(self, name: str, value) -> "RenderedForm":
        """Change a field the page shows; refuse one it does not."""
        if name not in self.names:
            raise AssertionError(f"the page renders no field named {name!r}")
        self[name] = value
        return self

    def add_row(self, prefix: str, **values) -> "RenderedForm":
        """Add an inline row as the admin's "Add another" button does, filled with ``values``."""
        index = int(self[f"{prefix}-TOTAL_FORMS"])
        template = f"{prefix}-__prefix__-"
        for name in [n for n in self.names if n.startswith(template)]:
            field = name.removeprefix(template)
            row_name = f"{prefix}-{index}-{field}"
            self.names.add(row_name)
            self[row_name] = values.pop(field, self.get(name, ""))
        if values:
            raise AssertionError(f"the {prefix} rows have no fields {sorted(values)}")
        self[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
        return self


def rendered_form(response, form_id: str | None = None) -> RenderedForm:
    """Return the fields of the form with ``form_id`` (else every form) in ``response``."""
    parser = _FormParser(form_id)
    parser.feed(response.content.decode())
    form = RenderedForm(
        {name: values if len(values) > 1 else values[0] for name, values in parser.fields.items()}
    )
    form.names = parser.names
    return form


def admin_form(response, model_name: str = "article") -> RenderedForm:
    """Return the fields of an admin change or add form."""
    return rendered_form(response, f"{model_name}_form")
