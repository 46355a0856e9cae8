/* Suggest existing tags under a comma-separated tags box (ArticleAdmin's tags field).

   The box is an ARIA combobox: typing asks the admin's tags/suggest/ URL for
   the tags matching the tag being typed (the text between the commas around
   the caret), and lists them under the box. Up and Down move through the
   list, Enter or a click puts the tag in place of what was typed, and Escape
   closes the list. Names are only ever set as text, never as HTML. */
"use strict";

(function () {
  const DELAY_MS = 150;

  function tagAt(value, caret) {
    const start = value.lastIndexOf(",", caret - 1) + 1;
    const comma = value.indexOf(",", caret);
    const end = comma === -1 ? value.length : comma;
    return { start, end, text: value.slice(start, end).trim() };
  }

  function otherTags(value, current) {
    const before = value.slice(0, current.start);
    const after = value.slice(current.end);
    return new Set(
      (before + "," + after)
        .split(",")
        .map((name) => name.trim().replace(/^"|"$/g, "").toLowerCase())
        .filter(Boolean),
    );
  }

  function setUp(input) {
    const box = document.createElement("div");
    const list = document.createElement("ul");
    const status = document.createElement("p");
    let options = [];
    let active = -1;
    let timer = null;
    let request = null;

    list.id = `${input.id}-suggestions`;
    list.className = "tag-suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", input.dataset.suggestLabel);
    list.hidden = true;
    status.className = "tag-suggestions-status";
    status.setAttribute("role", "status");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    // One block in the admin's flex row, with the list under the box.
    box.className = "tag-suggestions-box";
    input.replaceWith(box);
    box.append(input, list, status);

    function close() {
      list.hidden = true;
      list.replaceChildren();
      options = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      options.forEach((option, n) => option.setAttribute("aria-selected", String(n === index)));
      active = index;
      if (index < 0) {
        input.removeAttribute("aria-activedescendant");
        return;
      }
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    }

    function choose(name) {
      const value = input.value;
      const current = tagAt(value, input.selectionStart);
      const quoted = name.includes(",") ? `"${name}"` : name;
      const before = value.slice(0, current.start);
      const after = value.slice(current.end).replace(/^\s*,?\s*/, "");
      const text = `${before}${before ? " " : ""}${quoted}, `;
      input.value = text + after;
      input.setSelectionRange(text.length, text.length);
      close();
      status.textContent = "";
      input.focus();
    }

    function show(names) {
      close();
      names.forEach((name, n) => {
        const option = document.createElement("li");
        option.id = `${list.id}-${n}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = name;
        // mousedown, not click: the box keeps the focus, so the list stays.
        option.addEventListener("mousedown", (event) => {
          event.preventDefault();
          choose(name);
        });
        options.push(option);
      });
      list.replaceChildren(...options);
      list.hidden = options.length === 0;
      input.setAttribute("aria-expanded", String(options.length > 0));
      status.textContent = options.length
        ? input.dataset.suggestStatus.replace("{count}", options.length)
        : "";
    }

    async function suggest() {
      const value = input.value;
      const current = tagAt(value, input.selectionStart);
      if (!current.text) {
        close();
        return;
      }
      request?.abort();
      request = new AbortController();
      const url = new URL(input.dataset.suggestUrl, window.location.href);
      url.searchParams.set("q", current.text);
      try {
        const response = await fetch(url, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          signal: request.signal,
        });
        if (!response.ok) {
          close();
          return;
        }
        const entered = otherTags(value, current);
        const { tags } = await response.json();
        show(tags.filter((name) => !entered.has(name.toLowerCase())));
      } catch (error) {
        if (error.name !== "AbortError") close();
      }
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(suggest, DELAY_MS);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        const count = options.length;
        if (!count) return;
        event.preventDefault();
        if (event.key === "ArrowDown") {
          highlight((active + 1) % count);
        } else {
          highlight(active <= 0 ? count - 1 : active - 1);
        }
      } else if (event.key === "Enter" && active >= 0) {
        // Without this the form would be submitted.
        event.preventDefault();
        choose(options[active].textContent);
      } else if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        close();
      }
    });
    input.addEventListener("blur", close);
  }

  function start() {
    document.querySelectorAll("input[data-suggest-url]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
