// Multiple-choice quizzes: <div class="ptm-quiz" data-src="../../assets/quizzes/NAME.json">.
// Answers are checked here, in the page; progress is kept in this browser's localStorage.
(function () {
  "use strict";

  function storageKey(name) {
    return "ptm-quiz:" + name;
  }

  function load(name) {
    try {
      return JSON.parse(localStorage.getItem(storageKey(name))) || {};
    } catch (error) {
      return {};
    }
  }

  function save(name, state) {
    localStorage.setItem(storageKey(name), JSON.stringify(state));
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(container, quiz) {
    const name = quiz.name;
    const state = load(name);
    container.replaceChildren();
    const score = element("p", "ptm-quiz__score");
    container.appendChild(score);

    function updateScore() {
      const answered = quiz.questions.filter((q) => q.id in state);
      const right = answered.filter((q) => q.answers[state[q.id]] && q.answers[state[q.id]].correct);
      score.textContent =
        "Progress: " + answered.length + " of " + quiz.questions.length +
        " answered, " + right.length + " correct (saved in this browser).";
    }

    quiz.questions.forEach((question, number) => {
      const box = element("fieldset", "ptm-quiz__question");
      box.dataset.question = question.id;
      box.appendChild(element("legend", null, number + 1 + ". " + question.question));
      const feedback = element("p", "ptm-quiz__feedback");
      feedback.setAttribute("aria-live", "polite");

      function show(choice) {
        const answer = question.answers[choice];
        box.querySelectorAll("button").forEach((button, index) => {
          button.classList.toggle("ptm-quiz__chosen", index === choice);
          button.setAttribute("aria-pressed", index === choice ? "true" : "false");
        });
        feedback.className = "ptm-quiz__feedback " + (answer.correct ? "ptm-quiz__right" : "ptm-quiz__wrong");
        feedback.textContent = (answer.correct ? "Correct. " : "Not quite. ") + answer.explanation;
      }

      question.answers.forEach((answer, index) => {
        const button = element("button", "md-button ptm-quiz__answer", answer.text);
        button.type = "button";
        button.addEventListener("click", () => {
          state[question.id] = index;
          save(name, state);
          show(index);
          updateScore();
        });
        box.appendChild(button);
      });
      box.appendChild(feedback);
      container.appendChild(box);
      if (question.id in state && question.answers[state[question.id]]) show(state[question.id]);
    });

    const reset = element("button", "md-button ptm-quiz__reset", "Clear my answers");
    reset.type = "button";
    reset.addEventListener("click", () => {
      localStorage.removeItem(storageKey(name));
      render(container, quiz);
    });
    container.appendChild(reset);
    updateScore();
  }

  function init() {
    document.querySelectorAll(".ptm-quiz[data-src]").forEach((container) => {
      fetch(container.dataset.src)
        .then((response) => {
          if (!response.ok) throw new Error(response.status + " " + response.statusText);
          return response.json();
        })
        .then((quiz) => render(container, quiz))
        .catch((error) => {
          container.textContent = "The quiz could not be loaded (" + error.message + ").";
        });
    });
  }

  // Material's instant navigation swaps pages without a reload: document$ fires for each.
  if (typeof document$ !== "undefined") document$.subscribe(init);
  else document.addEventListener("DOMContentLoaded", init);
})();
