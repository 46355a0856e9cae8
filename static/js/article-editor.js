/* The article form's body editor: EasyMDE with a toolbar, a word count, a
   live preview rendered by the server, and a search and social preview.

   The textarea stays in the form and in step with the editor, so the form
   saves as it does without JavaScript, and the other scripts of the page
   (autosave.js, image-chooser.js) can keep reading it, writing it and
   announcing their changes with "input" events.

   The preview comes from the body's data-editor-preview-url (see
   articles/admin_editor.py): the server renders and sanitizes the text
   exactly as a save would. Everything here is built with DOM calls and
   text, and EasyMDE's own preview (which would skip the sanitizer) and its
   icon font download (which the Content-Security-Policy blocks) are off. */
"use strict";

(function () {
  const PREVIEW_DELAY_MS = 400;
  const WORDS_PER_MINUTE = 220; // articles/rendering.py
  const TITLE_LIMIT = 60;
  const DESCRIPTION_LIMIT = 160;

  function make(tag, properties = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(properties)) {
      if (name === "text") {
        node.textContent = value;
      } else if (name in node && !name.startsWith("aria")) {
        node[name] = value;
      } else {
        node.setAttribute(name, value);
      }
    }
    node.append(...children);
    return node;
  }

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function countWords(text) {
    const words = text.trim().split(/\s+/).filter(Boolean);
    return words.length;
  }

  function plural(count, one, many) {
    return `${count.toLocaleString("en")} ${count === 1 ? one : many}`;
  }

  function measure(words) {
    const minutes = Math.max(1, Math.ceil(words / WORDS_PER_MINUTE));
    return `${plural(words, "word", "words")} · ${minutes} min read`;
  }

  // The editor -----------------------------------------------------------

  function buildToolbar(chooseImage) {
    const button = (name, action, text, title) => ({
      name,
      action,
      text,
      title,
      className: `editor-button editor-button--${name}`,
    });
    return [
      button("h2", EasyMDE.toggleHeading2, "H2", "H2 heading"),
      button("h3", EasyMDE.toggleHeading3, "H3", "H3 heading"),
      "|",
      button("bold", EasyMDE.toggleBold, "B", "Bold"),
      button("italic", EasyMDE.toggleItalic, "I", "Italic"),
      button("link", EasyMDE.drawLink, "Link", "Link"),
      "|",
      button("unordered-list", EasyMDE.toggleUnorderedList, "• List", "• List (bulleted)"),
      button("ordered-list", EasyMDE.toggleOrderedList, "1. List", "1. List (numbered)"),
      button("quote", EasyMDE.toggleBlockquote, "Quote", "Quote"),
      button("table", EasyMDE.drawTable, "Table", "Table"),
      "|",
      button("image", chooseImage, "Image", "Image from the library (Ctrl-Alt-I)"),
    ];
  }

  function chooseImage() {
    document.dispatchEvent(new CustomEvent("healthhub:choose-image"));
  }

  function insertParagraph(editor, text) {
    // As image-chooser.js does: alone in its paragraph, the page shows a figure.
    const cm = editor.codemirror;
    const doc = cm.getDoc();
    const cursor = doc.getCursor("from");
    const before = doc.getRange({ line: 0, ch: 0 }, cursor);
    const after = doc.getRange(doc.getCursor("to"), { line: doc.lastLine() + 1, ch: 0 });
    let lead = "";
    if (before && !before.endsWith("\n\n")) {
      lead = before.endsWith("\n") ? "\n" : "\n\n";
    }
    let trail = "\n\n";
    if (after.startsWith("\n\n")) {
      trail = "";
    } else if (after.startsWith("\n")) {
      trail = "\n";
    }
    doc.replaceSelection(lead + text + trail, "end");
    cm.focus();
  }

  function startEditor(textarea) {
    let lastFocused = null;
    const editor = new EasyMDE({
      element: textarea,
      autoDownloadFontAwesome: false,
      spellChecker: false,
      nativeSpellcheck: true,
      status: false,
      forceSync: true,
      minHeight: "420px",
      toolbar: buildToolbar(() => {
        lastFocused = editor.codemirror;
        chooseImage();
      }),
      shortcuts: {
        // EasyMDE's own preview renders without the site's sanitizer.
        togglePreview: null,
        toggleSideBySide: null,
        toggleFullScreen: null,
        drawImage: null,
      },
    });
    const cm = editor.codemirror;
    const chooseHere = () => {
      lastFocused = cm;
      chooseImage();
    };
    cm.addKeyMap({ "Ctrl-Alt-I": chooseHere, "Cmd-Alt-I": chooseHere });
    cm.getInputField().setAttribute("aria-label", "Body (Markdown)");

    // CodeMirror hid the textarea; keep it in the page, out of sight and out
    // of the tab order, for scripts that read it and for form submission.
    textarea.style.display = "";
    textarea.classList.add("article-editor__source");
    textarea.tabIndex = -1;
    textarea.addEventListener("mousedown", (event) => {
      event.preventDefault();
      cm.focus();
    });
    const label = document.querySelector(`label[for="${textarea.id}"]`);
    label?.addEventListener("click", (event) => {
      event.preventDefault();
      cm.focus();
    });

    let syncing = false;
    cm.on("change", () => {
      if (syncing) {
        return;
      }
      textarea.value = editor.value();
      syncing = true;
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
      syncing = false;
    });
    // Another script changed the textarea (autosave restore, a test, the chooser).
    const pull = () => {
      if (!syncing && editor.value() !== textarea.value) {
        syncing = true;
        editor.value(textarea.value);
        syncing = false;
      }
    };
    textarea.addEventListener("input", pull);
    document.addEventListener("healthhub:body-replaced", pull);
    // Text goes in where the person last was: the textarea can hold the
    // focus too (a keyboard script, a test), and then image-chooser.js
    // inserts there itself and announces it with an "input" event.
    cm.on("focus", () => {
      lastFocused = cm;
    });
    textarea.addEventListener("focus", () => {
      lastFocused = textarea;
    });
    document.addEventListener("healthhub:insert-markdown", (event) => {
      if (lastFocused !== cm || event.defaultPrevented) {
        return;
      }
      event.preventDefault();
      insertParagraph(editor, event.detail.text);
    });
    textarea.form?.addEventListener("submit", () => {
      textarea.value = editor.value();
    });
    return editor;
  }

  // The live preview -------------------------------------------------------

  function buildPreview() {
    const status = make("p", { className: "article-preview__status", role: "status" });
    const article = make("div", { className: "article__body" });
    const removed = make("div", { className: "article-preview__removed", "aria-live": "polite" });
    removed.hidden = true;
    const pane = make(
      "section",
      { className: "article-preview", "aria-labelledby": "article-preview-heading" },
      [
        make("h2", { id: "article-preview-heading", text: "Preview" }),
        status,
        make("div", { className: "article-preview__page" }, [article]),
        removed,
      ],
    );
    return { pane, status, article, removed };
  }

  function showRemoved(preview, data) {
    const notes = [];
    if (data.removed.length) {
      const names = [...new Set(data.removed)];
      notes.push(`The sanitizer removed: ${names.join(", ")}.`);
    }
    if (data.foreign_images.length) {
      notes.push(
        `Not on this site, so the page will not show: ${data.foreign_images.join(", ")}.`,
      );
    }
    if (data.missing_images.length) {
      notes.push(`Not in the image library: image ${data.missing_images.join(", ")}.`);
    }
    preview.removed.replaceChildren(...notes.map((text) => make("p", { text })));
    preview.removed.hidden = notes.length === 0;
  }

  function startPreview(textarea, editor, preview, counter) {
    const url = textarea.dataset.editorPreviewUrl;
    let timer = null;
    let controller = null;

    async function refresh() {
      controller?.abort();
      controller = new AbortController();
      const body = new URLSearchParams({ text: editor.value() });
      preview.status.textContent = "Updating…";
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          body,
          credentials: "same-origin",
          signal: controller.signal,
          headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        });
      } catch (error) {
        if (error.name !== "AbortError") {
          preview.status.textContent = "The preview could not be updated: no connection.";
        }
        return;
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        preview.status.textContent = data.error || "The preview could not be updated.";
        return;
      }
      // Sanitized by the server, by the same code that renders the saved page.
      preview.article.innerHTML = data.html;
      preview.status.textContent = "";
      counter.textContent = `${plural(data.word_count, "word", "words")} · ${data.reading_minutes} min read`;
      showRemoved(preview, data);
    }

    const schedule = () => {
      counter.textContent = measure(countWords(editor.value()));
      clearTimeout(timer);
      timer = setTimeout(refresh, PREVIEW_DELAY_MS);
    };
    editor.codemirror.on("change", schedule);
    refresh();
  }

  // The search and social preview -------------------------------------------

  function fieldValue(name) {
    const control = document.getElementById(`id_${name}`);
    return control ? control.value.trim() : "";
  }

  function startSeoPanel(textarea, after) {
    const siteName = textarea.dataset.editorSiteName || "";
    const categoryPath = textarea.dataset.editorCategoryPath || "/category/";
    const coverUrl = textarea.dataset.editorCoverUrl || "";

    const searchTitle = make("span", { className: "seo-search__title" });
    const searchUrl = make("span", { className: "seo-search__url" });
    const searchDescription = make("span", { className: "seo-search__description" });
    const cardTitle = make("span", { className: "seo-card__title" });
    const cardSite = make("span", { className: "seo-card__site", text: siteName });
    const warnings = make("ul", { className: "seo-preview__warnings" });
    const card = make("div", { className: "seo-card" });
    if (coverUrl) {
      card.append(make("img", { className: "seo-card__image", src: coverUrl, alt: "" }));
    }
    card.append(make("div", { className: "seo-card__text" }, [cardSite, cardTitle]));

    const panel = make(
      "section",
      { className: "seo-preview", "aria-labelledby": "seo-preview-heading" },
      [
        make("h2", { id: "seo-preview-heading", text: "Search and social preview" }),
        make("div", { className: "seo-preview__views" }, [
          make("figure", { className: "seo-preview__view" }, [
            make("figcaption", { text: "In search results" }),
            make("div", { className: "seo-search" }, [searchUrl, searchTitle, searchDescription]),
          ]),
          make("figure", { className: "seo-preview__view" }, [
            make("figcaption", { text: "When shared" }),
            card,
          ]),
        ]),
        warnings,
      ],
    );
    after.after(panel);

    function update() {
      const title = fieldValue("title") || "Untitled article";
      const slug = fieldValue("slug") || "address";
      const description = fieldValue("excerpt");
      const fullTitle = siteName ? `${title} | ${siteName}` : title;
      searchTitle.textContent = fullTitle;
      searchUrl.textContent = `${window.location.host}${categoryPath}${slug}/`;
      searchDescription.textContent = description || "No excerpt yet: search engines pick a sentence.";
      cardTitle.textContent = title;
      const notes = [];
      if (title.length > TITLE_LIMIT) {
        notes.push(
          `The title is ${title.length} characters: search results cut it after about ${TITLE_LIMIT}.`,
        );
      }
      if (description.length > DESCRIPTION_LIMIT) {
        notes.push(
          `The excerpt is ${description.length} characters: search results cut it after about ${DESCRIPTION_LIMIT}.`,
        );
      }
      warnings.replaceChildren(
        ...notes.map((text) => make("li", { className: "seo-preview__warning", text })),
      );
    }

    for (const name of ["title", "slug", "excerpt"]) {
      document.getElementById(`id_${name}`)?.addEventListener("input", update);
    }
    // The slug is also filled in by the admin's prepopulate script, on keyup.
    document.getElementById("id_title")?.addEventListener("keyup", update);
    update();
  }

  // ---------------------------------------------------------------------------

  function start() {
    const textarea = document.querySelector("textarea[data-editor-preview-url]");
    if (!textarea || typeof EasyMDE === "undefined") {
      return;
    }
    const editor = startEditor(textarea);
    const counter = make("p", {
      className: "article-editor__count",
      "aria-live": "polite",
      text: measure(countWords(editor.value())),
    });
    const preview = buildPreview();
    const writing = make("div", { className: "article-editor__writing" }, [
      editor.codemirror.getWrapperElement().closest(".EasyMDEContainer"),
      counter,
    ]);
    const layout = make("div", { className: "article-editor" }, [writing, preview.pane]);
    (textarea.closest(".flex-container") || textarea).after(layout);
    editor.codemirror.refresh();
    startPreview(textarea, editor, preview, counter);
    startSeoPanel(textarea, textarea.closest(".form-row") || layout);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
