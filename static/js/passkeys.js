// Passkeys: the WebAuthn calls of the forms marked data-passkey. A form
// fetches its options from data-passkey-options (a POST with the form's
// fields, _csrf and any current_password among them), asks the browser for
// a passkey, puts the answer in its hidden field "credential" and is
// submitted as usual: the server answers as it does any form. Options
// refused for a field's value come with messages by field, shown under
// the fields.
(function () {
  "use strict";

  function toBytes(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBytes(c.id) };
      if (c.transports) d.transports = c.transports;
      return d;
    });
  }

  // creationOptions and requestOptions turn the server's JSON into what
  // navigator.credentials takes: the byte fields as ArrayBuffers.
  function creationOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    pk.excludeCredentials = descriptors(pk.excludeCredentials);
    return pk;
  }

  function requestOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    pk.allowCredentials = descriptors(pk.allowCredentials);
    return pk;
  }

  function extensions(cred) {
    try { return cred.getClientExtensionResults(); } catch (e) { return {}; }
  }

  function attestationJSON(cred) {
    var r = cred.response;
    var response = {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject)
    };
    if (typeof r.getTransports === "function") response.transports = r.getTransports();
    return {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response,
      clientExtensionResults: extensions(cred), authenticatorAttachment: cred.authenticatorAttachment || undefined
    };
  }

  function assertionJSON(cred) {
    var r = cred.response;
    var response = {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature)
    };
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    return {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response,
      clientExtensionResults: extensions(cred), authenticatorAttachment: cred.authenticatorAttachment || undefined
    };
  }

  // explain says what went wrong in words; the browser's own messages are
  // for developers.
  function explain(err, registering) {
    switch (err && err.name) {
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out. Try again when you are ready.";
      case "InvalidStateError":
        return registering ? "This passkey or security key is registered already." : "This passkey cannot be used here.";
      case "SecurityError":
        return "This browser refuses passkeys for this address.";
      case "NotSupportedError":
        return "This browser or device cannot make a passkey that works here.";
      case "AbortError":
        return "The passkey request was cancelled.";
    }
    return (err && err.userMessage) || "Something went wrong with the passkey. Try again.";
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && navigator.credentials.create && navigator.credentials.get);
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var registering = form.getAttribute("data-passkey") === "register";
    var message = form.querySelector("[data-passkey-message]");
    var button = form.querySelector("button[type=submit], button:not([type])");
    var field = form.querySelector("input[name=credential]");

    function say(text) {
      if (!message) return;
      message.textContent = text;
      message.classList.toggle("hidden", !text);
    }

    // shown: the field errors on show, to take back on the next try.
    var shown = [];

    function clearFieldErrors() {
      shown.forEach(function (s) {
        s.message.remove();
        s.input.removeAttribute("aria-invalid");
        if (s.describedBy) s.input.setAttribute("aria-describedby", s.describedBy);
        else s.input.removeAttribute("aria-describedby");
        s.input.classList.replace("border-red-500", "border-gray-300");
        s.input.classList.replace("dark:border-red-500", "dark:border-gray-600");
      });
      shown = [];
    }

    // showFieldErrors puts each message under its field as the server
    // does on a refused form (the field marked invalid and described by
    // the message), empties a password field and focuses the first field,
    // so a screen reader reads its message. False if no field was found.
    function showFieldErrors(fields) {
      var first = null;
      Object.keys(fields || {}).forEach(function (name) {
        var input = form.elements.namedItem(name);
        if (!input || !input.id || input.type === "hidden") return;
        var stale = document.getElementById(input.id + "-error");
        if (stale) stale.remove();
        var p = document.createElement("p");
        p.id = input.id + "-error";
        p.className = "mt-1 text-sm text-red-700 dark:text-red-400";
        p.textContent = fields[name];
        input.insertAdjacentElement("afterend", p);
        shown.push({ input: input, message: p, describedBy: input.getAttribute("aria-describedby") });
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", p.id);
        input.classList.replace("border-gray-300", "border-red-500");
        input.classList.replace("dark:border-gray-600", "dark:border-red-500");
        if (input.type === "password") input.value = "";
        if (!first) first = input;
      });
      if (first) first.focus();
      return first !== null;
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      say("");
      clearFieldErrors();
      if (!supported()) {
        say("This browser cannot use passkeys. Use another browser, or another way to sign in.");
        return;
      }
      if (button) button.disabled = true;
      var body = new URLSearchParams(new FormData(form));
      body.delete("credential");
      fetch(form.getAttribute("data-passkey-options"), {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (data) {
          if (!res.ok || !data.publicKey) {
            var err = new Error("options refused");
            err.userMessage = data.error || "Passkeys are not available right now. Reload the page and try again.";
            err.fields = data.fields;
            throw err;
          }
          return data.publicKey;
        });
      }).then(function (pk) {
        return registering
          ? navigator.credentials.create({ publicKey: creationOptions(pk) }).then(attestationJSON)
          : navigator.credentials.get({ publicKey: requestOptions(pk) }).then(assertionJSON);
      }).then(function (answer) {
        field.value = JSON.stringify(answer);
        // The password was for the options; the answer does not need it.
        form.querySelectorAll("input[type=password]").forEach(function (p) { p.value = ""; });
        form.submit();
      }).catch(function (err) {
        if (button) button.disabled = false;
        if (!(err && err.fields && showFieldErrors(err.fields))) say(explain(err, registering));
      });
    });
  });
})();
