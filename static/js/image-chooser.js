/* The article form's image chooser: pick a picture from the image library,
   or upload one, and put ![alt](image:N) in the body.

   It opens on the "healthhub:choose-image" event (the editor's toolbar
   button dispatches it) and from its own "Insert image" button under the
   body field. A choice is announced as "healthhub:insert-markdown" with the
   text in event.detail.text; an editor that inserts it calls
   preventDefault(), otherwise the text goes in at the textarea's cursor, as
   a paragraph of its own so that the page shows it as a figure.

   The endpoints come from the body's data-image-search-url and
   data-image-upload-url attributes (articles/admin_images.py). The dialog
   is built with DOM calls and text only: no HTML strings, no inline style,
   nothing the site's Content-Security-Policy would block. */
"use strict";

(function () {
  const DELAY_MS = 250;
  let body = null;
  let searchUrl = "";
  let uploadUrl = "";
  let chooser = null;
  let opener = null;

  function make(tag, properties = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(properties)) {
      if (name === "text") {
        node.textContent = value;
      } else if (name in node && !name.startsWith("aria") && name !== "for") {
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

  function markdownFor(image) {
    // Brackets and backslashes in the alt text would end the reference early.
    const alt = image.alt.replace(/[\\[\]]/g, "\\$&");
    return `![${alt}](image:${image.id})`;
  }

  function insertAtCursor(text) {
    const start = body.selectionStart;
    const end = body.selectionEnd;
    const before = body.value.slice(0, start);
    const after = body.value.slice(end);
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
    body.focus();
    body.setRangeText(lead + text + trail, start, end, "end");
    body.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insert(image) {
    const text = markdownFor(image);
    const event = new CustomEvent("healthhub:insert-markdown", {
      detail: { text },
      cancelable: true,
    });
    // Whoever inserts the text moves the focus there; closing must not take it back.
    opener = null;
    chooser.dialog.close();
    if (document.dispatchEvent(event)) {
      insertAtCursor(text);
    }
  }

  function field(form, name, label, input, help) {
    const errors = make("ul", { className: "errorlist", id: `image-chooser-${name}-errors` });
    errors.hidden = true;
    input.id = `image-chooser-${name}`;
    input.name = name;
    const described = [errors.id];
    const row = make("div", { className: "image-chooser-field" }, [
      make("label", { for: input.id, text: label }),
      input,
    ]);
    if (help) {
      const note = make("p", { className: "help", id: `${input.id}-help`, text: help });
      described.push(note.id);
      row.append(note);
    }
    row.append(errors);
    input.setAttribute("aria-describedby", described.join(" "));
    form.fields[name] = { input, errors };
    form.append(row);
  }

  function build() {
    const dialog = make("dialog", {
      className: "image-chooser",
      "aria-labelledby": "image-chooser-title",
    });
    const close = make("button", { type: "button", className: "image-chooser-close", text: "Close" });
    close.addEventListener("click", () => dialog.close());

    // The library --------------------------------------------------------
    const query = make("input", {
      type: "search",
      id: "image-chooser-query",
      autocomplete: "off",
      maxLength: 100,
    });
    const searchForm = make("form", { className: "image-chooser-search", role: "search" }, [
      make("label", { for: query.id, text: "Search by alt text or caption" }),
      query,
      make("button", { type: "submit", className: "button", text: "Search" }),
    ]);
    const status = make("p", { className: "image-chooser-status", role: "status" });
    const results = make("ul", { className: "image-chooser-results" });
    const previous = make("button", { type: "button", className: "button", text: "Previous" });
    const next = make("button", { type: "button", className: "button", text: "Next" });
    const pages = make("div", { className: "image-chooser-pages" }, [previous, next]);
    const library = make("section", {
      className: "image-chooser-library",
      "aria-labelledby": "image-chooser-library-title",
    }, [
      make("h3", { id: "image-chooser-library-title", text: "Choose from the library" }),
      searchForm,
      status,
      results,
      pages,
    ]);

    // The upload ---------------------------------------------------------
    const uploadForm = make("form", { className: "image-chooser-upload-form", noValidate: true });
    uploadForm.fields = {};
    const formErrors = make("ul", { className: "errorlist nonfield" });
    formErrors.hidden = true;
    uploadForm.append(formErrors);
    field(uploadForm, "file", "Image file", make("input", {
      type: "file",
      accept: "image/jpeg,image/png,image/webp,image/gif",
      required: true,
    }), "JPEG, PNG, WebP or GIF.");
    field(uploadForm, "alt", "Alt text", make("input", {
      type: "text",
      maxLength: 250,
      required: true,
      className: "vTextField",
    }), "Describe the image for readers who cannot see it.");
    field(uploadForm, "caption", "Caption (optional)", make("input", {
      type: "text",
      maxLength: 300,
      className: "vTextField",
    }));
    field(uploadForm, "credit", "Credit and licence (optional)", make("input", {
      type: "text",
      maxLength: 200,
      className: "vTextField",
    }), "For example: “Illustration: Jane Doe, CC BY 4.0”.");
    const uploadButton = make("button", { type: "submit", className: "button default", text: "Upload and insert" });
    const uploadStatus = make("p", { className: "image-chooser-status", role: "status" });
    uploadForm.append(make("div", { className: "image-chooser-actions" }, [uploadButton]), uploadStatus);
    const upload = make("section", {
      className: "image-chooser-upload",
      "aria-labelledby": "image-chooser-upload-title",
    }, [make("h3", { id: "image-chooser-upload-title", text: "Upload a new image" }), uploadForm]);

    dialog.append(
      make("div", { className: "image-chooser-header" }, [
        make("h2", { id: "image-chooser-title", text: "Insert an image" }),
        close,
      ]),
      make("div", { className: "image-chooser-panes" }, [library, upload]),
    );
    document.body.append(dialog);

    let page = 1;
    let request = null;
    let timer = null;

    function showResults(data) {
      results.replaceChildren(
        ...data.results.map((image) => {
          const choice = make("button", { type: "button", className: "image-chooser-choice" }, [
            make("img", { src: image.thumbnail, alt: "", width: 160, height: 120, loading: "lazy" }),
            make("span", { className: "image-chooser-alt", text: image.alt }),
          ]);
          if (image.caption) {
            choice.title = image.caption;
          }
          choice.addEventListener("click", () => insert(image));
          return make("li", {}, [choice]);
        }),
      );
      previous.hidden = data.previous === null;
      next.hidden = data.next === null;
      pages.hidden = previous.hidden && next.hidden;
      if (!data.results.length) {
        status.textContent = query.value.trim()
          ? "No image in the library matches. Try other words, or upload the image."
          : "The library is empty. Upload the first image.";
      } else {
        const count = data.results.length;
        status.textContent = `Page ${data.page}: ${count} ${count === 1 ? "image" : "images"}.`;
      }
    }

    async function search(wanted) {
      if (request) {
        request.abort();
      }
      request = new AbortController();
      const params = new URLSearchParams({ q: query.value.trim(), page: String(wanted) });
      status.textContent = "Searching…";
      try {
        const response = await fetch(`${searchUrl}?${params}`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          signal: request.signal,
        });
        if (!response.ok) {
          status.textContent = `The library could not be searched (error ${response.status}).`;
          return;
        }
        const data = await response.json();
        page = data.page;
        showResults(data);
      } catch (error) {
        if (error.name !== "AbortError") {
          status.textContent = "The library could not be reached. Check the connection and try again.";
        }
      }
    }

    searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(timer);
      search(1);
    });
    query.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => search(1), DELAY_MS);
    });
    previous.addEventListener("click", () => search(page - 1));
    next.addEventListener("click", () => search(page + 1));

    function showErrors(errors) {
      formErrors.replaceChildren();
      for (const { input, errors: list } of Object.values(uploadForm.fields)) {
        list.replaceChildren();
        list.hidden = true;
        input.removeAttribute("aria-invalid");
      }
      let first = null;
      for (const [name, messages] of Object.entries(errors)) {
        const target = uploadForm.fields[name];
        const list = target ? target.errors : formErrors;
        list.append(...messages.map((message) => make("li", { text: message })));
        list.hidden = false;
        if (target) {
          target.input.setAttribute("aria-invalid", "true");
          first = first || target.input;
        }
      }
      formErrors.hidden = !formErrors.childElementCount;
      if (first) {
        first.focus();
      }
    }

    uploadForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const missing = {};
      if (!uploadForm.fields.file.input.files.length) {
        missing.file = ["Choose an image file."];
      }
      if (!uploadForm.fields.alt.input.value.trim()) {
        missing.alt = ["Describe the image: its alt text is required."];
      }
      showErrors(missing);
      if (Object.keys(missing).length) {
        return;
      }
      uploadButton.disabled = true;
      uploadStatus.textContent = "Uploading…";
      try {
        const response = await fetch(uploadUrl, {
          method: "POST",
          body: new FormData(uploadForm),
          headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
          credentials: "same-origin",
        });
        const data = await response.json().catch(() => ({}));
        if (response.status === 201) {
          uploadStatus.textContent = "";
          uploadForm.reset();
          insert(data.image);
        } else if (data.errors) {
          uploadStatus.textContent = "The image was not added. See the messages above.";
          showErrors(data.errors);
        } else {
          uploadStatus.textContent = `The image was not added (error ${response.status}). Try again.`;
        }
      } catch (error) {
        uploadStatus.textContent = "The upload did not reach the site. Check the connection and try again.";
      } finally {
        uploadButton.disabled = false;
      }
    });

    dialog.addEventListener("close", () => {
      if (opener && document.contains(opener)) {
        opener.focus();
      }
    });

    return { dialog, query, search };
  }

  function open() {
    opener = document.activeElement;
    if (!chooser) {
      chooser = build();
      chooser.search(1);
    }
    chooser.dialog.showModal();
    chooser.query.focus();
  }

  function start() {
    body = document.querySelector("textarea[data-image-search-url]");
    if (!body) {
      return;
    }
    searchUrl = body.dataset.imageSearchUrl;
    uploadUrl = body.dataset.imageUploadUrl;
    const button = make("button", {
      type: "button",
      className: "button image-chooser-open",
      text: "Insert image",
      "aria-haspopup": "dialog",
    });
    button.addEventListener("click", open);
    // Under the field, beside neither the label nor an editor that replaces the textarea.
    (body.closest(".flex-container") || body).after(
      make("p", { className: "image-chooser-opener" }, [button]),
    );
    document.addEventListener("healthhub:choose-image", open);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
