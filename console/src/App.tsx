import { Outlet, Route, Routes } from "react-router";
import { RequireSession } from "./session/RequireSession";
import { SessionProvider } from "./session/SessionProvider";
import { Shell } from "./shell/Shell";
import { AdjustPoints } from "./screens/AdjustPoints/AdjustPoints";
import { EditUser } from "./screens/EditUser/EditUser";
import { EnrolUser } from "./screens/EnrolUser/EnrolUser";
import { Home } from "./screens/Home/Home";
import { NotFound } from "./screens/NotFound/NotFound";
import { SignIn } from "./screens/SignIn/SignIn";
import { UserDetail } from "./screens/UserDetail/UserDetail";

/** The console's routes; each screen lives in src/screens/<Name>/. */
export function App() {
  return (
    <SessionProvider>
      <Routes>
        {/* Screens for anyone: signing in and the emailed links. */}
        <Route path="/sign-in" element={<SignIn />} />
        {/* Screens for signed-in staff, inside one shell that stays as they move around. */}
        <Route
          element={
            <RequireSession>
              <Shell>
                <Outlet />
              </Shell>
            </RequireSession>
          }
        >
          <Route path="/" element={<Home />} />
          <Route path="/users/new" element={<EnrolUser />} />
          <Route path="/users/:id" element={<UserDetail />} />
          <Route path="/users/:id/edit" element={<EditUser />} />
          <Route path="/users/:id/adjust" element={<AdjustPoints />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </SessionProvider>
  );
}
