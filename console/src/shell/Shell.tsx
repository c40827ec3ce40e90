import { useEffect, useRef, useState, type ReactNode } from "react";
import { Link, NavLink, useLocation } from "react-router";
import { useSession } from "../session/SessionProvider";
import "./Shell.css";

const APP_TITLE = "Loyalty console";

/** The frame around every signed-in screen: the main navigation and the content. */
export function Shell({ children }: { children: ReactNode }) {
  const { me, can, signOut } = useSession();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const usersSection = location.pathname === "/" || location.pathname.startsWith("/users");

  const main = useRef<HTMLElement>(null);
  const shownPath = useRef(location.pathname);

  // After moving to another screen, close a phone's menu and start reading at the new content.
  useEffect(() => {
    setMenuOpen(false);
    if (location.pathname === shownPath.current) return;
    shownPath.current = location.pathname;
    main.current?.focus();
  }, [location.pathname]);

  // Each page's title names its screen (what a tab or a screen reader's window list shows): the
  // screen's <h1>, which may come only once its data has loaded.
  useEffect(() => {
    const region = main.current;
    if (!region) return;
    const update = () => {
      const heading = region.querySelector("h1")?.textContent;
      document.title = heading ? `${heading} · ${APP_TITLE}` : APP_TITLE;
    };
    update();
    const observer = new MutationObserver(update);
    observer.observe(region, { subtree: true, childList: true, characterData: true });
    return () => {
      observer.disconnect();
      document.title = APP_TITLE;
    };
  }, []);

  return (
    <div className="shell">
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <header className="shell-header">
        <p className="shell-title">{APP_TITLE}</p>
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((open) => !open)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? "shell-nav open" : "shell-nav"}>
          <ul>
            <li>
              {/* The users' own pages (/users/...) belong to this section too. */}
              <Link to="/" aria-current={usersSection ? "page" : undefined}>
                Users
              </Link>
            </li>
            <li>
              <NavLink to="/approvals">Approvals</NavLink>
            </li>
            {can("READ_LOGS") && (
              <li>
                <NavLink to="/logs">Activity log</NavLink>
              </li>
            )}
            <li>
              <NavLink to="/settings">Settings</NavLink>
            </li>
            <li>
              {/* GraphiQL is a page of its own, served by the server. */}
              <a href="/graphql">GraphiQL</a>
            </li>
          </ul>
          <p className="shell-user">
            Signed in as <strong>{me?.email}</strong>
          </p>
          <button type="button" className="sign-out" onClick={() => void signOut()}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="content" ref={main} className="shell-main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
