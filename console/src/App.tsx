import { Outlet, Route, Routes } from "react-router";
import { RequireSession } from "./session/RequireSession";
import { SessionProvider } from "./session/SessionProvider";
import { Shell } from "./shell/Shell";
import { AcceptInvitation } from "./screens/AcceptInvitation/AcceptInvitation";
import { ActivityLog } from "./screens/ActivityLog/ActivityLog";
import { AdjustPoints } from "./screens/AdjustPoints/AdjustPoints";
import { ApprovalDetail } from "./screens/Approvals/ApprovalDetail";
import { Approvals } from "./screens/Approvals/Approvals";
import { EditUser } from "./screens/EditUser/EditUser";
import { EnrolUser } from "./screens/EnrolUser/EnrolUser";
import { ForgotPassword } from "./screens/ForgotPassword/ForgotPassword";
import { Home } from "./screens/Home/Home";
import { NotFound } from "./screens/NotFound/NotFound";
import { ResetPassword } from "./screens/ResetPassword/ResetPassword";
import { Settings } from "./screens/Settings/Settings";
import { SignIn } from "./screens/SignIn/SignIn";
import { UserDetail } from "./screens/UserDetail/UserDetail";

/** The console's routes; each screen lives in src/screens/<Name>/. */
export function App() {
  return (
    <SessionProvider>
      <Routes>
        {/* Screens for anyone: signing in and the emailed links. */}
        <Route path="/sign-in" element={<SignIn />} />
        <Route path="/forgot-password" element={<ForgotPassword />} />
        <Route path="/reset-password" element={<ResetPassword />} />
        <Route path="/accept-invitation" element={<AcceptInvitation />} />
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
          <Route path="/approvals" element={<Approvals />} />
          <Route path="/approvals/:id" element={<ApprovalDetail />} />
          <Route path="/logs" element={<ActivityLog />} />
          <Route path="/settings" element={<Settings />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </SessionProvider>
  );
}
