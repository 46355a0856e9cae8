/*
 * Autosave for the article form: every few seconds, when something changed,
 * the form's text fields go to the server (one row per person and article)
 * and to localStorage, for a dropped connection. On opening the form, a
 * copy newer than the article's last save is offered back in a banner.
 * Restoring only fills the form: the author saves as usual, so the form's
 * version check still guards against someone else's save meanwhile.
 */
(function () {
  "use strict";

  const INTERVAL_MS = 3000;
  const PENDING_KEY = "healthhub:autosave:pending";

  const configElement = document.getElementById("autosave-config");
  const form = document.getElementById("article_form");
  if (!configElement || !form) {
    return;
  }
  const config = JSON.parse(configElement.textContent);
  const statusElement = document.getElementById("autosave-status");
  const banner = document.getElementById("autosave-banner");
  const bannerText = document.getElementById("autosave-banner-text");
  const csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");

  function controls() {
    return config.fields
      .map((name) => form.elements.namedItem(name))
      .filter((control) => control && typeof control.value === "string" && !control.readOnly);
  }

  function snapshot() {
    const data = {};
    for (const control of controls()) {
      data[control.name] = control.value;
    }
    return data;
  }

  function sameAsForm(data) {
    const current = snapshot();
    return Object.keys(data).every((name) => !(name in current) || current[name] === data[name]);
  }

  // localStorage may be full or refused (private windows); the server copy still counts.
  function readLocal(key) {
    try {
      return JSON.parse(window.localStorage.getItem(key) || "null");
    } catch (error) {
      return null;
    }
  }

  function writeLocal(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch (error) {
      /* keep going with the server copy */
    }
  }

  function removeLocal(key) {
    try {
      window.localStorage.removeItem(key);
    } catch (error) {
      /* nothing stored */
    }
  }

  let lastSavedAt = null;
  function showStatus(text) {
    if (statusElement) {
      statusElement.textContent = text;
    }
  }

  function savedStatus() {
    if (lastSavedAt === null) {
      return;
    }
    const minutes = Math.floor((Date.now() - lastSavedAt) / 60000);
    if (minutes < 1) {
      showStatus("Saved a few seconds ago");
    } else if (minutes === 1) {
      showStatus("Saved a minute ago");
    } else {
      showStatus(`Saved ${minutes} minutes ago`);
    }
  }

  function post(url, payload, keepalive) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: keepalive,
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrfInput ? csrfInput.value : "",
      },
      body: JSON.stringify(payload),
    });
  }

  let lastSent = JSON.stringify(snapshot());
  let inFlight = false;
  let submitting = false;

  function rememberLocally(data) {
    writeLocal(config.storageKey, { savedAt: Date.now(), data: data });
  }

  function autosave(keepalive) {
    // Leaving the page sends what it has, even while a periodic save is on its way.
    if (submitting || (inFlight && !keepalive)) {
      return;
    }
    const data = snapshot();
    const serialised = JSON.stringify(data);
    if (serialised === lastSent) {
      return;
    }
    rememberLocally(data);
    if (!navigator.onLine) {
      showStatus("Not saved: offline");
      return;
    }
    inFlight = true;
    // A keepalive request may carry only 64 kB; the local copy covers a longer body.
    const small = serialised.length < 60000;
    post(config.saveUrl, { fields: data }, Boolean(keepalive && small))
      .then((response) => {
        if (response.ok) {
          lastSent = serialised;
          lastSavedAt = Date.now();
          savedStatus();
        } else if (response.status === 413) {
          showStatus("Not saved: too long to autosave; save the form instead");
        } else if (response.status === 403) {
          showStatus("Not saved: you may not edit this article any more, or were signed out");
        } else {
          showStatus("Not saved: the server refused the autosave");
        }
      })
      .catch(() => {
        showStatus("Not saved: offline");
      })
      .finally(() => {
        inFlight = false;
      });
  }

  // The banner: a copy newer than the article's last save, from the server or this browser.
  let offered = null;

  function newestCopy() {
    const updatedAt = config.updatedAt ? Date.parse(config.updatedAt) : 0;
    let best = null;
    if (config.server) {
      best = { savedAt: Date.parse(config.server.savedAt), data: config.server.data, server: true };
    }
    const local = readLocal(config.storageKey);
    if (local && local.data) {
      if (local.savedAt <= updatedAt) {
        removeLocal(config.storageKey);
      } else if (!best || local.savedAt > best.savedAt) {
        best = { savedAt: local.savedAt, data: local.data, server: Boolean(config.server) };
      }
    }
    return best;
  }

  function when(time) {
    return new Date(time).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function hideBanner() {
    if (banner) {
      banner.hidden = true;
    }
  }

  function discard() {
    removeLocal(config.storageKey);
    hideBanner();
    offered = null;
    return post(config.discardUrl, {}, false).catch(() => {
      /* the row stays until the next save deletes it */
    });
  }

  function offerRestore() {
    offered = newestCopy();
    if (!offered || !banner) {
      return;
    }
    if (sameAsForm(offered.data)) {
      // What the form already holds, e.g. an autosave that crossed the last save.
      discard();
      return;
    }
    bannerText.textContent = `Restore unsaved changes from ${when(offered.savedAt)}`;
    banner.hidden = false;
  }

  function restore() {
    if (!offered) {
      return;
    }
    for (const control of controls()) {
      if (!(control.name in offered.data)) {
        continue;
      }
      control.value = offered.data[control.name];
      control.dispatchEvent(new Event("input", { bubbles: true }));
      if (control.name === "body") {
        // A rich editor wrapping the textarea refreshes itself from it.
        document.dispatchEvent(new CustomEvent("healthhub:body-replaced"));
      }
    }
    hideBanner();
    showStatus(
      `Restored the changes from ${when(offered.savedAt)}. Save to keep them.`,
    );
    offered = null;
  }

  // A save that comes back with errors keeps its local copy; a successful one drops it.
  function settlePendingSave() {
    let pending = null;
    try {
      pending = JSON.parse(window.sessionStorage.getItem(PENDING_KEY) || "null");
      window.sessionStorage.removeItem(PENDING_KEY);
    } catch (error) {
      return;
    }
    const refused = form.querySelector(".errorlist");
    if (pending && refused) {
      writeLocal(pending.key, pending.value);
    }
  }

  form.addEventListener("submit", () => {
    submitting = true;
    const local = readLocal(config.storageKey);
    if (local) {
      try {
        window.sessionStorage.setItem(
          PENDING_KEY,
          JSON.stringify({ key: config.storageKey, value: local }),
        );
      } catch (error) {
        /* the local copy is dropped with the save */
      }
    }
    removeLocal(config.storageKey);
  });

  settlePendingSave();
  offerRestore();
  document.getElementById("autosave-restore")?.addEventListener("click", restore);
  document.getElementById("autosave-discard")?.addEventListener("click", () => {
    discard().then(() => showStatus("Discarded the unsaved changes"));
  });

  window.setInterval(() => autosave(false), INTERVAL_MS);
  window.setInterval(savedStatus, 15000);
  window.addEventListener("online", () => autosave(false));
  window.addEventListener("offline", () => showStatus("Not saved: offline"));
  window.addEventListener("pagehide", () => autosave(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      autosave(true);
    }
  });
})();
