// hatake: the little script pages need. Forms (or the button pressed) marked data-confirm ask
// before submitting.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var button = event.submitter;
  var question = (button && button.getAttribute && button.getAttribute("data-confirm")) ||
    (form.getAttribute && form.getAttribute("data-confirm"));
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Links marked data-back go back in history when there is somewhere to go (the content
// security policy forbids javascript: URLs); otherwise they follow their href.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});

// The company picker of the lead form: suggestions from the company master as the name is
// typed; picking one sets the company's id, typing again clears it (the server then resolves
// the name itself, and says when it names no company or several).
document.addEventListener("input", function (event) {
  var input = event.target;
  if (!input.matches || !input.matches("input[data-lookup]")) {
    return;
  }
  var hidden = input.form && input.form.querySelector("input[name=account_id]");
  var list = document.getElementById(input.getAttribute("list"));
  if (!hidden || !list) {
    return;
  }
  var chosen = null;
  for (var i = 0; i < list.options.length; i++) {
    if (list.options[i].value === input.value) {
      chosen = list.options[i];
    }
  }
  hidden.value = chosen ? chosen.getAttribute("data-id") : "";
  if (chosen || input.value.trim() === "") {
    return;
  }
  clearTimeout(input.hatakeLookup);
  input.hatakeLookup = setTimeout(function () {
    fetch(input.getAttribute("data-lookup") + "?q=" + encodeURIComponent(input.value.trim()), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (items) {
        list.innerHTML = "";
        items.forEach(function (item) {
          var option = document.createElement("option");
          option.value = item.label;
          option.setAttribute("data-id", item.id);
          list.appendChild(option);
        });
      });
  }, 200);
});

// The segment editor: a changed kind of condition shows that kind's fields (the form is shown
// again by the server), and the number of matching people follows every change.
(function () {
  var form = document.getElementById("segment-form");
  if (!form) {
    return;
  }
  var count = document.getElementById("segment-count");
  var note = document.getElementById("segment-count-note");
  var timer = null;
  var asked = 0;
  function recount() {
    var data = new FormData(form);
    data.set("action", "count");
    var mine = ++asked;
    fetch(form.getAttribute("data-count"), { method: "POST", body: new URLSearchParams(data), credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer || mine !== asked) {
          return;
        }
        if (typeof answer.count === "number") {
          count.textContent = answer.count.toLocaleString("ja-JP");
          note.textContent = "";
        } else {
          count.textContent = "—";
          note.textContent = (answer.errors || []).join(" ");
        }
      });
  }
  form.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("condition-type")) {
      var action = document.createElement("input");
      action.type = "hidden";
      action.name = "action";
      action.value = "refresh";
      form.appendChild(action);
      form.submit();
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(recount, 300);
  });
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(recount, 600);
  });
})();

// The newsletter form: how many the send would reach, as template and segment are chosen.
(function () {
  var form = document.getElementById("newsletter-form");
  var shown = document.getElementById("newsletter-estimate");
  if (!form || !shown) {
    return;
  }
  var asked = 0;
  function estimate() {
    var data = new FormData(form);
    var mine = ++asked;
    fetch(form.getAttribute("data-estimate"), { method: "POST", body: new URLSearchParams(data), credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        // An answer to an earlier choice that arrives late is dropped.
        if (mine !== asked) {
          return;
        }
        shown.textContent = answer && typeof answer.count === "number" ? answer.count.toLocaleString("ja-JP") : "—";
      });
  }
  form.addEventListener("change", function (event) {
    if (event.target.name === "template_id" || event.target.name === "segment_id") {
      estimate();
    }
  });
  estimate();
})();

// The review page: the 「マージ後」 column follows the value a person picks for each field.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "radio" || !input.name.startsWith("pick.")) return;
  const cell = input.closest("tr")?.querySelector("td.after");
  if (cell) cell.textContent = input.dataset.value || "";
});

// Alerts as they are made (server-sent events): a note in the corner that opens the lead, and
// the unread count in the header. One tab of the browser holds the stream (a Web Lock) and
// passes each alert to the others (a BroadcastChannel): a browser keeps only a few connections
// to one server open, and every tab holding its own stream would block pages from loading. The
// stream opens once the page has loaded and closes when the page goes; the browser reconnects
// by itself, saying what it saw last.
(function () {
  var box = document.getElementById("alert-toasts");
  if (!box || !window.EventSource) {
    return;
  }
  var channel = window.BroadcastChannel ? new BroadcastChannel("hatake-alerts") : null;
  var shown = {};

  function show(alert) {
    if (shown[alert.id]) {
      return;
    }
    shown[alert.id] = true;
    var item = document.createElement("div");
    item.className = "toast";
    item.setAttribute("role", "status");
    item.setAttribute("data-alert", String(alert.id));
    var title = document.createElement("a");
    title.href = alert.url;
    title.textContent = alert.title;
    item.appendChild(title);
    if (alert.detail) {
      var detail = document.createElement("small");
      detail.textContent = alert.detail;
      item.appendChild(detail);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link close";
    close.textContent = "×";
    close.setAttribute("aria-label", box.getAttribute("data-close") || "close");
    close.addEventListener("click", function () {
      item.remove();
    });
    item.appendChild(close);
    box.insertBefore(item, box.firstChild);
    while (box.children.length > 5) {
      box.removeChild(box.lastChild);
    }
    var count = document.getElementById("alert-count");
    if (count) {
      count.textContent = String((parseInt(count.textContent, 10) || 0) + 1);
      count.hidden = false;
    }
  }

  if (channel) {
    channel.onmessage = function (message) {
      show(message.data);
    };
  }

  // Runs until the page goes; resolves then (releasing the lock to another tab).
  function listen() {
    return new Promise(function (done) {
      var source = new EventSource("/alerts/stream?after=" + encodeURIComponent(box.getAttribute("data-after") || "0"));
      source.addEventListener("alert", function (event) {
        var alert = JSON.parse(event.data);
        show(alert);
        if (channel) {
          channel.postMessage(alert);
        }
      });
      window.addEventListener("pagehide", function () {
        source.close();
        done();
      });
    });
  }

  window.addEventListener("load", function () {
    window.setTimeout(function () {
      if (navigator.locks && channel) {
        navigator.locks.request("hatake-alerts", listen);
      } else {
        listen();
      }
    }, 0);
  });
})();
