import { Route, Routes } from "react-router";
import { SignInDocument } from "./screens/SignIn/documents";

/** The console's routes; each screen lives in src/screens/<Name>/. */
export function App() {
  return (
    <Routes>
      <Route path="*" element={<main><h1>Loyalty console</h1><p hidden>{SignInDocument ? "" : ""}</p></main>} />
    </Routes>
  );
}
