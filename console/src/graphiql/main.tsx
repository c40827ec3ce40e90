// Placeholder: helper C2 replaces this with GraphiQL from its npm package.
const root = document.getElementById("graphiql");
if (root) root.textContent = "GraphiQL is being built.";
