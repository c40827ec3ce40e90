/** A screen about one user, when the user cannot be loaded: its heading and why. */
export function UserUnavailable({ heading, error }: { heading: string; error: string | null }) {
  return (
    <>
      <h1>{heading}</h1>
      <p role="alert" className="alert">
        {error ?? "This user does not exist, was deleted, or is not yours to see."}
      </p>
    </>
  );
}
