import { graphql } from "../../gql";

export const LogsDocument = graphql(`
  query ActivityLog($filter: LogFilter, $first: Int!, $after: String) {
    logs(filter: $filter, first: $first, after: $after) {
      edges {
        node {
          id
          timestamp
          action
          outcome
          actorId
          actorEmail
          actorRole
          targetType
          targetId
          details
          sourceIp
          userAgent
          requestId
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

/** The "Actor" filter takes an email too: the log filters by id, so the email is looked up first. */
export const ActorByEmailDocument = graphql(`
  query ActorByEmail($email: String!) {
    userByEmail(email: $email) {
      id
    }
  }
`);
